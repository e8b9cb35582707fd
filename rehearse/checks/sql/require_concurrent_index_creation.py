"""RH101: CREATE INDEX on an existing table must use CONCURRENTLY."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule, qualified


@register
class RequireConcurrentIndexCreation(SqlRule):
    code = "RH101"
    name = "require-concurrent-index-creation"
    severity = "high"
    summary = "Create indexes on existing tables with CREATE INDEX CONCURRENTLY."
    references = ("squawk: require-concurrent-index-creation", "strong_migrations: add_index")
    problem = """
        `CREATE INDEX` takes a SHARE lock on the table for as long as the index build lasts:
        reads go on, but every INSERT, UPDATE and DELETE waits. On a large table that is
        minutes of blocked writes.
    """
    solution = """
        Build it with `CREATE INDEX CONCURRENTLY`, which only takes SHARE UPDATE EXCLUSIVE.
        It cannot run inside a transaction, and if it fails it leaves an INVALID index behind
        (drop it and retry). Indexes on tables created in the same revision are fine.
    """
    alembic = """
        ```python
        def upgrade():
            with op.get_context().autocommit_block():
                op.create_index("ix_orders_created_at", "orders", ["created_at"],
                                postgresql_concurrently=True, if_not_exists=True)
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.IndexStmt) and not node.concurrent and not state.is_new(node.relation):
            yield self.hit(f"CREATE INDEX on {qualified(node.relation)} without CONCURRENTLY blocks "
                           "writes to the table while the index builds",
                           table=qualified(node.relation), index=node.idxname)
