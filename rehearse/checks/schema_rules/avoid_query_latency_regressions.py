"""RH412: a busy query shape runs slower on staging after the upgrade, beyond the noise margin."""

from typing import ClassVar, Iterator

from ..base import DatabaseContext, DatabaseRule, Hit, register
from .require_old_queries_to_prepare import rate_text, short


@register
class AvoidQueryLatencyRegressions(DatabaseRule):
    code = "RH412"
    name = "avoid-query-latency-regressions"
    severity = "medium"
    kind: ClassVar[str] = "schema"
    moments: ClassVar[tuple[str, ...]] = ("after-upgrade",)
    summary = "A busy query shape's median latency on staging grew beyond the noise margin after the upgrade."
    problem = """
        For the busiest captured shapes, rehearse times a few EXECUTE runs of the prepared
        shape (each rolled back, bounded per shape) on staging before and after the upgrade,
        with the same sampled parameter values. A median beyond the before-median by more
        than `duration_noise` (thresholds.checks, 25% by default) is reported. Latency on a
        copy is not production's latency; the ratio is what the finding is about.
    """
    solution = "Look at the plan change (RH411) and the indexes and statistics of the tables the shape reads."
    alembic = "Run `ANALYZE table` after a migration that rewrites a table or changes a key column's type."

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:
        for cmp in ctx.plans:
            if not cmp.slower or cmp.lost_indexes or cmp.new_seq_scans:
                continue  # a plan change is RH411's finding, with the latency in it
            ratio = cmp.after.latency_ms / cmp.before.latency_ms
            yield Hit(f"{short(cmp.query)} ({rate_text(cmp.calls_per_s)}) takes {cmp.after.latency_ms:.2f} ms "
                      f"instead of {cmp.before.latency_ms:.2f} ms on staging ({ratio:.1f}x)",
                      {"query": cmp.query, "latency_before_ms": cmp.before.latency_ms,
                       "latency_after_ms": cmp.after.latency_ms, "ratio": round(ratio, 2)},
                      statement=cmp.query)
