"""RH411: a busy query shape's plan loses an index or switches to a sequential scan on a large table."""

from typing import ClassVar, Iterator

from ..base import DatabaseContext, DatabaseRule, Hit, register
from .require_old_queries_to_prepare import rate_text, short


@register
class AvoidPlansLosingAnIndex(DatabaseRule):
    code = "RH411"
    name = "avoid-plans-losing-an-index"
    severity = "high"
    kind: ClassVar[str] = "schema"
    moments: ClassVar[tuple[str, ...]] = ("after-upgrade",)
    summary = "A busy query shape's plan stops using an index, or scans a large table sequentially, after the upgrade."
    problem = """
        A migration that drops or replaces an index, changes a column's type or adds a
        function around a key can leave production's busiest queries without the index they
        use. For the busiest captured shapes (calls/s x mean time, `--plan-top`), rehearse
        compares the plan on staging before and after the upgrade (EXPLAIN EXECUTE of the
        prepared shape with parameter values sampled from the copy) and reports an index the
        plan no longer uses, or a new sequential scan on a table at least `table_rows` rows
        or `table_bytes` bytes large (thresholds.checks). Plans on a smaller copy may differ
        from production's; the sample values are one point, not the whole distribution.
    """
    solution = "Keep (or re-create, CONCURRENTLY) the index the query needs before dropping the old one."
    alembic = """
        ```python
        with op.get_context().autocommit_block():
            op.create_index("ix_orders_customer_id_v2", "orders", ["customer_id"],
                            postgresql_concurrently=True)
            op.drop_index("ix_orders_customer_id", postgresql_concurrently=True)
        ```
    """

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:
        for cmp in ctx.plans:
            if not (cmp.lost_indexes or cmp.new_seq_scans):
                continue
            what = []
            if cmp.lost_indexes:
                what.append(f"no longer uses {', '.join(cmp.lost_indexes)}")
            if cmp.new_seq_scans:
                what.append(f"now scans {', '.join(cmp.new_seq_scans)} sequentially")
            latency = ""
            if cmp.before.latency_ms is not None and cmp.after.latency_ms is not None:
                latency = f"; {cmp.before.latency_ms:.2f} ms -> {cmp.after.latency_ms:.2f} ms on staging"
            yield Hit(f"{short(cmp.query)} ({rate_text(cmp.calls_per_s)}) {' and '.join(what)}{latency}",
                      {"query": cmp.query, "lost_indexes": list(cmp.lost_indexes),
                       "new_seq_scans": list(cmp.new_seq_scans), "plan_before": cmp.before.plan,
                       "plan_after": cmp.after.plan, "latency_before_ms": cmp.before.latency_ms,
                       "latency_after_ms": cmp.after.latency_ms, "calls_per_s": cmp.calls_per_s},
                      statement=cmp.query)
