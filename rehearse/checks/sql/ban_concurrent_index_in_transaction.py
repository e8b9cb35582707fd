"""RH103: CONCURRENTLY operations cannot run inside a transaction block."""

from pglast import ast
from pglast.enums import ObjectType

from ..base import register
from ..sqltools import SqlRule, has_option


@register
class BanConcurrentIndexInTransaction(SqlRule):
    code = "RH103"
    name = "ban-concurrent-index-in-transaction"
    severity = "critical"
    summary = "Run CREATE/DROP/REINDEX ... CONCURRENTLY outside a transaction (autocommit_block)."
    references = ("squawk: ban-concurrent-index-creation-in-transaction",)
    problem = """
        PostgreSQL refuses `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY` and
        `REINDEX ... CONCURRENTLY` inside a transaction block
        (`ERROR: ... cannot run inside a transaction block`). Alembic runs migrations in a
        transaction on PostgreSQL, so the migration fails in production.
    """
    solution = """
        Run the statement outside the migration's transaction, and make it idempotent
        (`IF NOT EXISTS` / `IF EXISTS`) so that a retried migration does not fail on it.
    """
    alembic = """
        ```python
        def upgrade():
            with op.get_context().autocommit_block():
                op.create_index("ix_users_email", "users", ["email"],
                                postgresql_concurrently=True, if_not_exists=True)
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        concurrent = (
            (isinstance(node, ast.IndexStmt) and node.concurrent)
            or (isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX and node.concurrent)
            or (isinstance(node, ast.ReindexStmt) and has_option(node.params, "concurrently"))
        )
        if concurrent and state.in_transaction:
            yield self.hit("a CONCURRENTLY index operation runs inside a transaction block; "
                           "PostgreSQL will refuse it")
