"""RH203: a statement took longer than the threshold."""

from ..base import register
from .base import TraceRule


@register
class LimitStatementDuration(TraceRule):
    code = "RH203"
    name = "limit-statement-duration"
    severity = "medium"
    summary = "A migration statement ran longer than the threshold (default 5 s)."
    problem = """
        The statement ran longer than `thresholds.statement_s` on the rehearsal copy. Long
        statements hold their locks the whole time and, in a deploy, delay everything
        after them; production hardware and load can make them slower still.
    """
    solution = """
        Batch data changes, build indexes concurrently, and move slow backfills out of the
        schema migration.
    """
    alembic = "Move long data work into batched scripts or autocommit blocks with small transactions."

    def check(self, trace, thresholds):
        if trace.ok and thresholds.exceeds(trace.duration_s, thresholds.statement_s):
            yield self.hit(f"the statement ran for {trace.duration_s:.1f} s (threshold {thresholds.statement_s:g} s)",
                           duration_s=round(trace.duration_s, 3), threshold_s=thresholds.statement_s,
                           rows_affected=trace.rows_affected)
