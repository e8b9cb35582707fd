"""RH158: outside a transaction, DDL should be safe to re-run (IF [NOT] EXISTS)."""

from pglast import ast
from pglast.enums import AlterTableType, ObjectType

from ..base import register
from ..sqltools import SqlRule, alter_cmds


@register
class PreferRobustStmts(SqlRule):
    code = "RH158"
    name = "prefer-robust-stmts"
    severity = "low"
    summary = "Outside a transaction, use IF NOT EXISTS / IF EXISTS so a failed migration can be re-run."
    references = ("squawk: prefer-robust-stmts",)
    problem = """
        Statements that run outside a transaction (in an `autocommit_block()`, or
        `CONCURRENTLY` operations) are not rolled back when a later statement fails.
        Re-running the migration then fails on `already exists` / `does not exist`.
    """
    solution = "Write them idempotently: `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, `DROP INDEX CONCURRENTLY IF EXISTS`, `ADD COLUMN IF NOT EXISTS`."
    alembic = """
        ```python
        with op.get_context().autocommit_block():
            op.create_index("ix_a", "t", ["a"], postgresql_concurrently=True, if_not_exists=True)
        ```
    """

    def check(self, stmt, state):
        if state.in_transaction:
            return
        node = stmt.node
        fragile = None
        if isinstance(node, ast.IndexStmt) and not node.if_not_exists and node.idxname:
            # (an unnamed index gets a fresh name on a retry: it cannot fail, only duplicate)
            fragile = "CREATE INDEX without IF NOT EXISTS"
        elif isinstance(node, ast.CreateStmt) and not node.if_not_exists and node.relation.relpersistence != "t":
            # (a temporary table is gone with the session a retry would not share)
            fragile = "CREATE TABLE without IF NOT EXISTS"
        elif isinstance(node, ast.DropStmt) and not node.missing_ok and node.removeType in (
                ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX, ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_VIEW):
            fragile = "DROP without IF EXISTS"
        else:
            for cmd in alter_cmds(node):
                if cmd.subtype == AlterTableType.AT_AddColumn and not cmd.missing_ok:
                    fragile = "ADD COLUMN without IF NOT EXISTS"
                elif cmd.subtype in (AlterTableType.AT_DropColumn, AlterTableType.AT_DropConstraint) \
                        and not cmd.missing_ok:
                    fragile = "DROP without IF EXISTS"
        if fragile:
            yield self.hit(f"{fragile} runs outside a transaction: a retried migration fails on it")
