"""RH115: DROP COLUMN loses data and breaks code that still reads the column."""

from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, qualified


@register
class BanDropColumn(SqlRule):
    code = "RH115"
    name = "ban-drop-column"
    severity = "medium"
    summary = "Stop using a column in code first; drop it in a later release."
    references = ("squawk: ban-drop-column", "strong_migrations: remove_column")
    problem = """
        Dropping a column is instant in PostgreSQL, but the data is gone (the downgrade can
        recreate the column, not its values), and application servers still running the
        previous release fail on `SELECT *` or ORM queries that name the column.
    """
    solution = """
        Release the code that no longer reads or writes the column first (with SQLAlchemy,
        remove it from the model, or mark it `deferred`), then drop it in a later migration.
        Take a backup of the values if the downgrade must restore them.
    """
    alembic = """
        ```python
        def upgrade():
            op.drop_column("users", "legacy_flag")  # after a release that stopped using it

        def downgrade():
            op.add_column("users", sa.Column("legacy_flag", sa.Boolean()))  # values are lost
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_DropColumn and not state.is_new(node.relation):
                yield self.hit(f"column {cmd.name} is dropped from {qualified(node.relation)}: its data is lost "
                               "and code still reading it breaks", table=qualified(node.relation), column=cmd.name)
