"""RH116: renaming a column breaks the running application."""

from pglast import ast
from pglast.enums import ObjectType

from ..base import register
from ..sqltools import SqlRule, qualified


@register
class BanRenameColumn(SqlRule):
    code = "RH116"
    name = "ban-rename-column"
    severity = "high"
    summary = "Add a new column, write to both, backfill, switch reads, then drop the old one."
    references = ("squawk: renaming-column", "strong_migrations: rename_column")
    problem = """
        The rename itself is instant, but between the migration and the deploy of the new code
        (and during any rollback of the code) the running application queries a column that
        no longer exists.
    """
    solution = """
        Expand and contract: add the new column, write to both, backfill, move reads, stop
        writing the old one, then drop it. For a short-lived alias, a view can help.
    """
    alembic = """
        ```python
        def upgrade():
            op.add_column("users", sa.Column("full_name", sa.Text()))
            # dual-write in code + batched backfill; drop "name" in a later release
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_COLUMN \
                and not state.is_new(node.relation):
            yield self.hit(f"column {qualified(node.relation)}.{node.subname} is renamed to {node.newname}: "
                           "the running application still uses the old name",
                           table=qualified(node.relation), column=node.subname, new_name=node.newname)
