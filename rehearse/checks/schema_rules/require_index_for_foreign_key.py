"""RH401: every foreign key needs an index on its referencing columns."""

from typing import ClassVar, Iterator

import psycopg2

from ...errors import InfrastructureError
from ..base import DatabaseContext, DatabaseRule, Hit, register

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


@register
class RequireIndexForForeignKey(DatabaseRule):
    code = "RH401"
    name = "require-index-for-foreign-key"
    severity = "medium"
    kind: ClassVar[str] = "schema"
    summary = "Index the referencing columns of every foreign key."
    references = ("strong_migrations: add_reference (index: true)",)
    problem = """
        PostgreSQL indexes the referenced key, not the referencing columns. Without an index
        on them, every DELETE or key UPDATE on the referenced table scans the referencing
        table (under a lock), and joins along the key scan too. Checked on the schema after
        the upgrade, for foreign keys on tables the rehearsal touched.
    """
    solution = "Create an index whose leading columns are the foreign key's columns (CONCURRENTLY on existing tables)."
    alembic = """
        ```python
        with op.get_context().autocommit_block():
            op.create_index("ix_orders_user_id", "orders", ["user_id"],
                            postgresql_concurrently=True, if_not_exists=True)
        ```
    """

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:
        wanted = None if ctx.touched is None else {_norm(t) for t in ctx.touched}
        try:
            with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
                cur.execute(_FK_WITHOUT_INDEX)
                rows = cur.fetchall()
            conn.close()
        except psycopg2.Error as exc:
            raise InfrastructureError(f"cannot read the schema to check foreign keys: {str(exc).strip()}",
                                      hint="check that the staging database is still running") from None
        for table, conname, referenced, columns, nrows in rows:
            if wanted is not None and table not in wanted and table.split(".", 1)[1] not in wanted:
                continue
            yield Hit(f"foreign key {conname} on {table} ({', '.join(columns)}) has no supporting index: "
                      f"deletes on {referenced} scan {table}",
                      {"table": table, "constraint": conname, "columns": list(columns),
                       "references": referenced, "rows": nrows})


def _norm(name: str) -> str:
    return name.strip().strip('"').lower()
