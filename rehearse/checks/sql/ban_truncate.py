"""RH155: TRUNCATE in a migration deletes every row."""

from pglast import ast
from pglast.enums import DropBehavior

from ..base import register
from ..sqltools import SqlRule, qualified


@register
class BanTruncate(SqlRule):
    code = "RH155"
    name = "ban-truncate"
    severity = "high"
    summary = "Do not TRUNCATE tables in migrations (and never with CASCADE)."
    references = ("squawk: ban-truncate-cascade",)
    problem = """
        `TRUNCATE` deletes every row with no way back for the downgrade, takes an ACCESS
        EXCLUSIVE lock, and with `CASCADE` silently empties every table that references it.
    """
    solution = "Delete the rows you mean to delete, in batches, or archive the table first."
    alembic = "Use `op.execute(\"DELETE FROM t WHERE ...\")` in batches, or a data script outside the migration."

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.TruncateStmt):
            tables = [qualified(r) for r in node.relations or () if not state.is_new(r)]
            if tables:
                cascade = node.behavior == DropBehavior.DROP_CASCADE
                yield self.hit(f"TRUNCATE {'CASCADE ' if cascade else ''}empties {', '.join(tables)}"
                               + (" and every table referencing it" if cascade else ""),
                               severity="critical" if cascade else None, tables=tables, cascade=cascade)
