"""RH118: DROP TABLE loses data and breaks code that still reads it."""

from pglast import ast
from pglast.enums import ObjectType

from ..base import register
from ..sqltools import SqlRule, bare, names


@register
class BanDropTable(SqlRule):
    code = "RH118"
    name = "ban-drop-table"
    severity = "high"
    summary = "Stop using a table in code first, keep a backup, and drop it in a later release."
    references = ("squawk: ban-drop-table", "strong_migrations: drop_table")
    problem = """
        `DROP TABLE` destroys data no downgrade can bring back, takes an ACCESS EXCLUSIVE
        lock (and on referencing tables), and breaks any running code that still uses it.
    """
    solution = """
        Deploy code that no longer uses the table, rename it aside or archive it first, and
        drop it in a later release once you are sure.
    """
    alembic = """
        ```python
        def upgrade():
            op.rename_table("old_audit", "old_audit_to_drop")  # drop in a later release
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
            for obj in node.objects or ():
                table = ".".join(names(obj))
                if bare(table) not in state.created:
                    yield self.hit(f"table {table} is dropped: its data is lost", table=table)
