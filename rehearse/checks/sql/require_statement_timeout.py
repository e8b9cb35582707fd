"""RH151: set statement_timeout so a runaway migration statement cannot hold locks forever."""

from ..base import register
from ..sqltools import SqlRule, lock_targets


@register
class RequireStatementTimeout(SqlRule):
    code = "RH151"
    name = "require-statement-timeout"
    severity = "low"
    once_per_revision = True
    summary = "SET statement_timeout before DDL so a slow statement gives up instead of blocking for hours."
    references = ("squawk: require-timeout-settings (statement_timeout)", "squawk: require-statement-timeout", "strong_migrations: statement_timeout")
    problem = """
        A statement that turns out slower than expected (a rewrite, a scan) keeps its locks
        until it ends. Without `statement_timeout` nothing bounds that.
    """
    solution = """
        `SET statement_timeout = '5min'` (or a value that fits the rehearsal's measurement)
        before the first locking statement; rehearse reports each statement's duration.
    """
    alembic = """
        ```python
        def upgrade():
            op.execute("SET LOCAL statement_timeout = '5min'")
        ```
    """

    def check(self, stmt, state):
        if state.statement_timeout:
            return
        targets = lock_targets(stmt.node, state)
        if targets:
            yield self.hit(f"this statement locks {', '.join(targets)} with no statement_timeout set in the revision",
                           tables=targets)
