"""RH205: one ALTER TABLE with several subcommands on a large table."""

from pglast import ast

from ..base import register
from ..sqltools import parse
from .base import TraceRule


@register
class SplitMultiCommandAlter(TraceRule):
    code = "RH205"
    name = "split-multi-command-alter"
    severity = "medium"
    summary = "Split ALTER TABLE statements with several subcommands on a large table."
    problem = """
        One `ALTER TABLE` with several subcommands holds the strongest lock any of them needs
        for the time all of them take; a single rewriting or scanning subcommand makes the
        cheap ones just as blocking, and a failure in one undoes the others.
    """
    solution = """
        Issue one subcommand per statement (each with its own lock_timeout and retry), or
        separate the expensive one into its own revision.
    """
    alembic = """
        Avoid `op.batch_alter_table` on PostgreSQL for large tables; call `op.add_column`,
        `op.alter_column`... separately.
    """

    def check(self, trace, thresholds):
        stmts = parse(trace.sql)
        if len(stmts) != 1 or not isinstance(stmts[0].node, ast.AlterTableStmt):
            return
        cmds = stmts[0].node.cmds or ()
        if len(cmds) < 2:
            return
        big = [lk for lk in trace.locks if thresholds.is_big(lk.rows, lk.bytes)
               and (lk.blocks_reads or lk.blocks_writes)]
        if big:
            yield self.hit(f"ALTER TABLE with {len(cmds)} subcommands holds {big[0].mode} on {big[0].relation} "
                           f"({big[0].rows or 0:,} rows) for all of them",
                           subcommands=len(cmds), relation=big[0].relation, lock_mode=big[0].mode,
                           rows=big[0].rows, bytes=big[0].bytes, held_s=big[0].held_s)
