"""RH402: a table that still exists lost rows across the upgrade."""

from typing import ClassVar, Iterator

from ..base import DatabaseContext, DatabaseRule, Hit, register


@register
class BanRowCountDrop(DatabaseRule):
    code = "RH402"
    name = "ban-row-count-drop"
    severity = "high"
    kind: ClassVar[str] = "schema"
    moments: ClassVar[tuple[str, ...]] = ("after-step",)
    summary = "A table kept by the upgrade has fewer rows afterwards."
    problem = """
        Rows were counted before and after the upgrade; a table that still exists has fewer
        rows afterwards. Unless the migration meant to delete them (a documented cleanup),
        this is data loss: a cascading delete, a bad `DELETE`/`TRUNCATE`, or a copy-and-swap
        that missed rows. Counted for every upgrade step from the rehearsal's data
        fingerprints, so it needs data checks (on by default; off with `--no-data-checks`).
    """
    solution = "Check the migration's DELETE/TRUNCATE/INSERT ... SELECT statements; accept it in the baseline if intended."
    alembic = "Make data removals explicit and reviewable, e.g. in a dedicated revision whose message says so."

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:
        before, after = ctx.rows_before or {}, ctx.rows_after or {}
        for table in sorted(set(before) & set(after)):
            old, new = before[table], after[table]
            if old is None or new is None or new >= old:
                continue
            if old and (old - new) / old <= ctx.thresholds.row_drop_fraction:
                continue
            yield Hit(f"{table} went from {old:,} to {new:,} rows ({old - new:,} fewer)",
                      {"table": table, "rows_before": old, "rows_after": new, "lost": old - new})
