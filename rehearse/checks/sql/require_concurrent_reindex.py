"""RH104: REINDEX must use CONCURRENTLY."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule, has_option, qualified


@register
class RequireConcurrentReindex(SqlRule):
    code = "RH104"
    name = "require-concurrent-reindex"
    severity = "high"
    summary = "Rebuild indexes with REINDEX ... CONCURRENTLY (PostgreSQL 12+)."
    references = ("squawk: require-concurrent-reindex", "strong_migrations: (manual) reindex")
    problem = """
        Plain `REINDEX` locks out writes to the table and takes ACCESS EXCLUSIVE on the index,
        so every query that would use the index waits until the rebuild ends.
    """
    solution = """
        Use `REINDEX INDEX CONCURRENTLY name` (PostgreSQL 12 and later), outside a
        transaction block.
    """
    alembic = """
        ```python
        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("REINDEX INDEX CONCURRENTLY ix_orders_created_at")
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.ReindexStmt) and not has_option(node.params, "concurrently"):
            target = qualified(node.relation) if node.relation is not None else node.name
            yield self.hit(f"REINDEX {target} without CONCURRENTLY blocks writes while it rebuilds",
                           target=target)
