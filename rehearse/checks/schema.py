"""Checks on a database after an upgrade: foreign keys without an index, row counts that drop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg2

from ..errors import InfrastructureError
from ..model import Finding
from .base import Hit, Thresholds, get_rule

_FK_WITHOUT_INDEX = """
SELECT n.nspname || '.' || t.relname AS tbl, c.conname,
       c.confrelid::regclass::text AS referenced,
       array_agg(a.attname ORDER BY k.ord) AS columns,
       greatest(t.reltuples, 0)::bigint AS rows
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) ON true
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
WHERE c.contype = 'f'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (
    SELECT 1 FROM pg_index i
    WHERE i.indrelid = c.conrelid AND i.indpred IS NULL
      AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] @> c.conkey
      AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] <@ c.conkey)
GROUP BY n.nspname, t.relname, c.conname, c.confrelid, t.reltuples
ORDER BY 1, 2
"""


def check_schema(dsn: str, *, only_tables: Iterable[str] | None = None) -> list[Finding]:
    """Schema findings on a migrated database (FKs without a supporting index).

    ``only_tables``: restrict to these relations ("schema.table" or bare names), e.g. the
    tables the rehearsal's statements touched, so old debt is not reported on every run.
    """
    rule = get_rule("RH401")
    wanted = None if only_tables is None else {_norm(t) for t in only_tables}
    try:
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(_FK_WITHOUT_INDEX)
            rows = cur.fetchall()
        conn.close()
    except psycopg2.Error as exc:
        raise InfrastructureError(f"cannot read the schema to check foreign keys: {str(exc).strip()}",
                                  hint="check that the staging database is still running") from None
    findings = []
    for table, conname, referenced, columns, nrows in rows:
        if wanted is not None and table not in wanted and table.split(".", 1)[1] not in wanted:
            continue
        hit = Hit(f"foreign key {conname} on {table} ({', '.join(columns)}) has no supporting index: deletes on "
                  f"{referenced} scan {table}",
                  {"table": table, "constraint": conname, "columns": list(columns),
                   "references": referenced, "rows": nrows})
        findings.append(rule.finding(hit, phase="upgrade"))
    return findings


def check_row_counts(before: Mapping[str, int], after: Mapping[str, int], *, revision: str | None = None,
                     thresholds: Thresholds | None = None, phase: str = "upgrade") -> list[Finding]:
    """RH402 for tables present before and after whose row count fell (beyond the allowed fraction)."""
    thresholds = thresholds or Thresholds()
    rule = get_rule("RH402")
    findings = []
    for table in sorted(set(before) & set(after)):
        old, new = before[table], after[table]
        if old is None or new is None or new >= old:
            continue
        if old and (old - new) / old <= thresholds.row_drop_fraction:
            continue
        hit = Hit(f"{table} went from {old:,} to {new:,} rows ({old - new:,} fewer)",
                  {"table": table, "rows_before": old, "rows_after": new, "lost": old - new})
        findings.append(rule.finding(hit, revision=revision, phase=phase))
    return findings


def _norm(name: str) -> str:
    return name.strip().strip('"').lower()
