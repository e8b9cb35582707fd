"""RH412: a busy query shape runs slower on staging after the upgrade, and the planner agrees it does more work."""

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
    summary = ("A busy query shape is slower on staging after the upgrade, beyond the noise margin, and its plan "
               "changed or became costlier.")
    problem = """
        For the busiest captured shapes, rehearse plans (EXPLAIN EXECUTE) and times a few
        EXECUTE runs of the prepared shape (each rolled back, bounded per shape) on staging
        before and after the upgrade, the same way both times and with the same sampled
        parameter values; a shape's latency is its fastest run. A shape is reported when two
        signals agree: its latency grew by more than `duration_noise` (thresholds.checks, 25%
        by default) and by at least 1 ms, *and* the planner sees more work: the plan's shape
        changed, or its estimated total cost rose by more than 20%. Latency alone is not a
        finding: on a busy machine (other processes, other sessions on the server) the same
        plan runs slower without anything having changed, while the planner's estimate moves
        only with the schema, the statistics and the settings. A shape whose plan and cost are
        unchanged is not reported however its timing moved. Latency on a copy is not
        production's latency; the ratio is what the finding is about. Where it stops being
        right: a regression the planner cannot see (a slower function or trigger, lock or I/O
        contention caused by the migration, a cost model that misjudges the new plan) is not
        reported by this rule.
    """
    solution = "Look at the plan change (RH411) and the indexes and statistics of the tables the shape reads."
    alembic = "Run `ANALYZE table` after a migration that rewrites a table or changes a key column's type."

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:
        for cmp in ctx.plans:
            if not cmp.slower or cmp.lost_indexes or cmp.new_seq_scans:
                continue  # a plan change is RH411's finding, with the latency in it
            ratio = cmp.after.latency_ms / cmp.before.latency_ms
            why = []
            if cmp.plan_changed:
                why.append("its plan changed")
            if cmp.before.cost is not None and cmp.after.cost is not None:
                why.append(f"estimated cost {cmp.before.cost:,.0f} -> {cmp.after.cost:,.0f}")
            yield Hit(f"{short(cmp.query)} ({rate_text(cmp.calls_per_s)}) takes {cmp.after.latency_ms:.2f} ms "
                      f"instead of {cmp.before.latency_ms:.2f} ms on staging ({'; '.join([f'{ratio:.1f}x', *why])})",
                      {"query": cmp.query, "latency_before_ms": cmp.before.latency_ms,
                       "latency_after_ms": cmp.after.latency_ms, "ratio": round(ratio, 2),
                       "cost_before": cmp.before.cost, "cost_after": cmp.after.cost,
                       "plan_changed": cmp.plan_changed, "plan_before": cmp.before.plan,
                       "plan_after": cmp.after.plan},
                      statement=cmp.query)
