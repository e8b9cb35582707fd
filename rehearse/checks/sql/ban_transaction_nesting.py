"""RH157: a migration must not open or end transactions itself."""

from ..base import register
from ..sqltools import SqlRule, transaction_kind


@register
class BanTransactionNesting(SqlRule):
    code = "RH157"
    name = "ban-transaction-nesting"
    severity = "high"
    summary = "Do not issue BEGIN/COMMIT in a migration; use autocommit_block() when needed."
    references = ("squawk: transaction-nesting",)
    problem = """
        Alembic wraps migrations in a transaction. A `BEGIN` inside it only warns and does
        nothing; a `COMMIT` ends Alembic's transaction early, so a later failure leaves the
        database half-migrated with `alembic_version` out of step.
    """
    solution = "Let Alembic manage transactions; for statements that cannot run in one, use `autocommit_block()`."
    alembic = """
        ```python
        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("VACUUM ANALYZE orders")
        ```
    """

    def check(self, stmt, state):
        kind = transaction_kind(stmt.node)
        if kind is None:
            return
        # In a traced run Alembic's own BEGIN/COMMIT are not statements, so any is the migration's.
        # In offline SQL, Alembic's BEGIN/COMMIT are present: only a nested BEGIN is wrong.
        # A COMMIT with no transaction open, or one that ends the transaction the runner wraps
        # around the file (assume_in_transaction), is the migration's own too.
        stray_end = kind == "end" and (state.depth == 0 or (state.assumed_transaction and state.depth == 1))
        if state.traced or (kind == "begin" and state.depth > 0) or stray_end:
            yield self.hit(f"the migration issues {stmt.sql.split()[0].upper()} itself, inside Alembic's "
                           "transaction handling")
