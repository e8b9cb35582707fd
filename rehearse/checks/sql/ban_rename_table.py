"""RH117: renaming a table breaks the running application."""

from pglast import ast
from pglast.enums import ObjectType

from ..base import register
from ..sqltools import SqlRule, qualified


@register
class BanRenameTable(SqlRule):
    code = "RH117"
    name = "ban-rename-table"
    severity = "high"
    summary = "Create the new table (or a view under the old name) instead of renaming in place."
    references = ("squawk: renaming-table", "strong_migrations: rename_table")
    problem = """
        Renaming a table is instant but takes an ACCESS EXCLUSIVE lock, and every query of the
        running release that names the old table fails until the new code is deployed.
    """
    solution = """
        Rename, then create a view with the old name in the same transaction (simple views
        are updatable) and drop the view once no code uses the old name; or copy to a new
        table with dual writes.
    """
    alembic = """
        ```python
        def upgrade():
            op.rename_table("customers", "accounts")
            op.execute("CREATE VIEW customers AS SELECT * FROM accounts")
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_TABLE \
                and not state.is_new(node.relation):
            yield self.hit(f"table {qualified(node.relation)} is renamed to {node.newname}: "
                           "the running application still uses the old name",
                           table=qualified(node.relation), new_name=node.newname)
