"""RH204: existing rows violate a constraint or cast the statement introduces."""

from ..base import register
from .base import TraceRule

KIND_WORDS = {
    "unique": "duplicate rows for the new UNIQUE constraint",
    "not_null": "NULLs in a column becoming NOT NULL",
    "foreign_key": "rows with no matching referenced row for the new foreign key",
    "check": "rows failing the new CHECK constraint",
    "cast": "values that cannot be cast to the new type",
}


@register
class BanConstraintViolations(TraceRule):
    code = "RH204"
    name = "ban-constraint-violations"
    severity = "critical"
    summary = "Existing data breaks a constraint (or type cast) the migration adds: it fails on production data."
    problem = """
        Before the statement ran, rehearse counted the existing rows that the new UNIQUE,
        NOT NULL, FOREIGN KEY or CHECK constraint, or the new column type, would reject. With
        any such row the statement fails in production (or, with NOT VALID, the constraint
        can never be validated). The evidence holds the count and a few primary keys of
        offending rows (keys only, never other values).
    """
    solution = """
        Fix the data first, in an earlier revision or a script: deduplicate, backfill NULLs,
        delete or repair orphans, then add the constraint.
    """
    alembic = """
        ```python
        def upgrade():
            op.execute("UPDATE orders SET status = 'new' WHERE status IS NULL")  # batched for big tables
            op.alter_column("orders", "status", nullable=False)
        ```
    """

    def check(self, trace, thresholds):
        found = trace.probes.get("violations") if trace.probes else None
        for v in ([found] if isinstance(found, dict) else list(found or ())):
            if not v.get("rows"):
                continue
            what = KIND_WORDS.get(v.get("kind"), "rows violating the change")
            target = v.get("table", "?") + (f".{v['column']}" if v.get("column") else "")
            yield self.hit(f"{v['rows']:,} {what} on {target}", **{
                k: v.get(k) for k in ("kind", "table", "column", "rows", "sample_keys", "key_columns",
                                      "constraint", "references")})
