"""RH128: dropping a column default breaks inserts of the release still running."""

from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, qualified


@register
class BanDropDefault(SqlRule):
    code = "RH128"
    name = "ban-drop-default"
    severity = "medium"
    summary = "Stop relying on the default in code first; drop it in a later release."
    references = ()
    problem = """
        `ALTER COLUMN ... DROP DEFAULT` is instant, but inserts that leave the column out (the
        running release's, or a service that never set it) now write NULL, or fail outright
        on a NOT NULL column. A serial or identity-like default dropped this way also stops
        the ids.
    """
    solution = """
        Release code that always sets the column first, or replace the default in the same
        statement (`SET DEFAULT`) rather than dropping it.
    """
    alembic = """
        ```python
        def upgrade():
            op.alter_column("orders", "status", server_default=None)  # only after code sets status
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_ColumnDefault and cmd.def_ is None and not state.is_new(node.relation):
                yield self.hit(f"the default of {qualified(node.relation)}.{cmd.name} is dropped: inserts that "
                               "leave the column out now write NULL or fail", table=qualified(node.relation),
                               column=cmd.name)
