"""RH122: SET LOGGED/UNLOGGED, SET TABLESPACE and SET ACCESS METHOD rewrite the table."""

from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, qualified

REWRITES = {
    AlterTableType.AT_SetLogged: "SET LOGGED",
    AlterTableType.AT_SetUnLogged: "SET UNLOGGED",
    AlterTableType.AT_SetTableSpace: "SET TABLESPACE",
    AlterTableType.AT_SetAccessMethod: "SET ACCESS METHOD",
}


@register
class BanTableRewriteCommands(SqlRule):
    code = "RH122"
    name = "ban-table-rewrite-commands"
    severity = "high"
    summary = "Avoid ALTER TABLE forms that copy the whole table (SET LOGGED, SET TABLESPACE...)."
    problem = """
        `ALTER TABLE ... SET LOGGED`, `SET UNLOGGED`, `SET TABLESPACE` and `SET ACCESS METHOD`
        copy the table (and write it all to WAL) while holding an ACCESS EXCLUSIVE lock.
    """
    solution = """
        Do it in a maintenance window, or build a copy online (e.g. logical replication or
        pg_repack) and swap.
    """
    alembic = """
        Keep such statements out of routine migrations; if unavoidable, isolate them in
        their own revision with `SET lock_timeout` and run it in a window.
    """

    def check(self, stmt, state):
        node = stmt.node
        for cmd in alter_cmds(node):
            if cmd.subtype in REWRITES and not state.is_new(node.relation):
                yield self.hit(f"ALTER TABLE {qualified(node.relation)} {REWRITES[cmd.subtype]} rewrites the table",
                               table=qualified(node.relation), command=REWRITES[cmd.subtype])
