"""RH410: the query shapes production runs still prepare against the migrated schema."""

from typing import ClassVar, Iterator

from ..base import DatabaseContext, DatabaseRule, Hit, register

SHOWN = 3  # shapes named in the message; the evidence lists them all


def rate_text(calls_per_s: float | None) -> str:
    if calls_per_s is None:
        return "rate unknown"
    per_min = calls_per_s * 60
    return f"{per_min:,.0f} calls/min" if per_min >= 1 else f"{calls_per_s * 3600:,.1f} calls/h"


def short(query: str, limit: int = 90) -> str:
    text = " ".join(query.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@register
class RequireOldQueriesToPrepare(DatabaseRule):
    code = "RH410"
    name = "require-old-queries-to-prepare"
    severity = "critical"
    kind: ClassVar[str] = "schema"
    moments: ClassVar[tuple[str, ...]] = ("after-step", "after-upgrade", "after-rollback")
    summary = "A statement the running application sends no longer prepares against the migrated schema."
    problem = """
        During a deploy the old version of the application keeps running against the new
        schema, and after a rollback the new version may run against the old one. rehearse
        PREPAREs every query shape captured from production (pg_stat_statements, or
        `--queries FILE`) on the staging copy before the upgrade, after each revision, after
        the whole upgrade and after the rollback. A shape that prepared before and fails now
        (a dropped or renamed column or table, a changed type) is a statement the server
        would reject: direct evidence that the running application breaks during the deploy.
        Shapes that failed already before the upgrade are not counted. Without captured
        shapes this rule is not checked.
    """
    solution = """
        Expand and contract: ship the application change that stops using the column or
        table first, deploy it everywhere, then drop it in a later release. For a rename, add
        the new name beside the old one (a view or a generated column) until no reader is left.
    """
    alembic = """
        ```python
        # release 1: the application stops reading orders.legacy_status (no migration)
        # release 2, once release 1 runs everywhere:
        def upgrade():
            op.drop_column("orders", "legacy_status")
        ```
    """

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:
        if not ctx.query_shapes or ctx.shape_runs is None:
            return
        broken = [(s, ctx.shape_runs[s.fingerprint]) for s in ctx.query_shapes
                  if s.fingerprint in ctx.shape_runs and not ctx.shape_runs[s.fingerprint].ok]
        if not broken:
            return
        broken.sort(key=lambda p: -(p[0].calls_per_s or 0))
        total = sum(s.calls_per_s or 0 for s, _ in broken)
        where = {"after-step": f"after {ctx.revision}", "after-upgrade": "after the whole upgrade",
                 "after-rollback": "after the rollback"}[ctx.moment]
        named = "; ".join(f"{short(s.query)} ({run.error}, {rate_text(s.calls_per_s)})" for s, run in broken[:SHOWN])
        more = f"; and {len(broken) - SHOWN} more" if len(broken) > SHOWN else ""
        yield Hit(f"{len(broken)} query {'shapes break' if len(broken) != 1 else 'shape breaks'} {where}: {named}{more} "
                  f"({rate_text(total)} in all)",
                  {"shapes": [{"query": s.query, "error": run.error, "calls_per_s": s.calls_per_s,
                               "tables": list(s.tables)} for s, run in broken],
                   "calls_per_s": round(total, 3), "moment": ctx.moment},
                  statement=broken[0][0].query)
