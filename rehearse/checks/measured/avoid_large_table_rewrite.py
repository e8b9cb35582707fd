"""RH202: a statement rewrote a large table."""

from ..base import register
from .base import TraceRule, size_of
from .limit_blocking_lock_duration import _size


@register
class AvoidLargeTableRewrite(TraceRule):
    code = "RH202"
    name = "avoid-large-table-rewrite"
    severity = "high"
    summary = "The rehearsal saw this statement rewrite (copy) a large table."
    problem = """
        The table's storage file changed (its relfilenode): PostgreSQL copied every row and
        rebuilt every index, holding an ACCESS EXCLUSIVE lock all along. Time and disk (twice
        the table's size, plus WAL) grow with the table. Rewrites of small tables (below the
        size thresholds) are not reported.
    """
    solution = """
        Use a form that does not rewrite: constant defaults (PG 11+), NOT VALID constraints,
        binary-compatible type changes, or the add-column/backfill/swap pattern.
    """
    alembic = "See the static finding on the same statement for the Alembic recipe."

    def check(self, trace, thresholds):
        for relation in trace.rewrites:
            rows, size = size_of(trace, relation)
            if rows is None and size is None:
                yield self.hit(f"{relation} was rewritten (size unknown)", severity="medium", relation=relation)
            elif thresholds.is_big(rows, size):
                yield self.hit(f"{relation} was rewritten ({_size(rows, size)}) in {trace.duration_s:.1f} s",
                               relation=relation, rows=rows, bytes=size, duration_s=round(trace.duration_s, 3))
