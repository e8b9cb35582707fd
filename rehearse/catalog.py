"""The source's catalogs as the pull and the scan read them: tables, column types, unique keys, foreign keys, settings.

Every query here is a plain SELECT so it can run inside the pull's READ ONLY snapshot transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from .policytypes import ColumnType
from .model import SourceInfo

SETTINGS = ("work_mem", "maintenance_work_mem", "max_parallel_maintenance_workers",
            "max_parallel_workers_per_gather", "lock_timeout", "statement_timeout",
            "idle_in_transaction_session_timeout", "TimeZone", "DateStyle", "default_text_search_config",
            "random_page_cost", "effective_cache_size", "search_path")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: ColumnType


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    unique_sets: tuple[tuple[str, ...], ...] = ()  # columns of each unique index / PK (expressions included)
    foreign_keys: tuple[ForeignKey, ...] = ()
    est_bytes: int = 0
    est_rows: int = 0
    heap_pages: int = 0  # current heap size in blocks (not the planner's estimate)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_TABLES = """
SELECT c.oid, n.nspname, c.relname, pg_total_relation_size(c.oid), GREATEST(c.reltuples, 0)::bigint,
       pg_relation_size(c.oid) / current_setting('block_size')::int
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND n.nspname NOT LIKE 'pg_temp%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 2, 3
"""

# generated columns are left out: COPY cannot write them and the restore recomputes them
_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       bt.typcategory, format_type(bt.oid, COALESCE(NULLIF(t.typtypmod, -1), a.atttypmod)),
       COALESCE(NULLIF(t.typtypmod, -1), a.atttypmod), et.typcategory, et.typname, bt.typname,
       t.typtype = 'd' AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.contypid = t.oid)
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attrelid, a.attnum
"""

_UNIQUE = """
SELECT i.indrelid, i.indexrelid,
       ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = i.indrelid
             AND (a.attnum = ANY(i.indkey)
                  OR a.attnum IN (SELECT d.refobjsubid FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                  AND d.objid = i.indexrelid AND d.refobjid = i.indrelid
                                  AND d.refobjsubid > 0)))
FROM pg_index i WHERE i.indisunique AND i.indrelid = ANY(%s)
"""

_FKS = """
SELECT k.conrelid, rn.nspname, r.relname,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, o)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o),
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, o)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.o)
FROM pg_constraint k JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE k.contype = 'f' AND k.conrelid = ANY(%s)
"""

_INT_BITS = {"int2": 16, "int4": 32, "int8": 64}


def read_tables(cur) -> list[TableInfo]:
    cur.execute(_TABLES)
    rows = cur.fetchall()
    oids = [r[0] for r in rows]
    if not oids:
        return []
    columns: dict[int, list[ColumnInfo]] = {o: [] for o in oids}
    cur.execute(_COLUMNS, (oids,))
    for (relid, name, fmt, notnull, cat, base_fmt, typmod, elem_cat, elem_name, base_name,
         checked_domain) in cur.fetchall():
        is_array = cat == "A"
        category = elem_cat if is_array else cat
        type_name = elem_name if is_array else base_name
        max_len = None
        if type_name in ("varchar", "bpchar") and typmod and typmod > 4:
            max_len = typmod - 4
        columns[relid].append(ColumnInfo(name, ColumnType(
            name=fmt, category=category or "X", max_length=max_len, is_array=is_array,
            is_json=type_name in ("json", "jsonb"), numeric_bits=_INT_BITS.get(type_name),
            not_null=notnull)))
    uniques: dict[int, list[tuple[str, ...]]] = {}
    cur.execute(_UNIQUE, (oids,))
    for relid, _idx, cols in cur.fetchall():
        uniques.setdefault(relid, []).append(tuple(cols))
    fks: dict[int, list[ForeignKey]] = {}
    cur.execute(_FKS, (oids,))
    for relid, rschema, rtable, cols, rcols in cur.fetchall():
        fks.setdefault(relid, []).append(ForeignKey(tuple(cols), rschema, rtable, tuple(rcols)))
    tables = []
    for oid, schema, name, size, est_rows, pages in rows:
        unique_cols = {c for s in uniques.get(oid, []) for c in s}
        cols = tuple(ColumnInfo(c.name, _with_unique(c.type, c.name in unique_cols)) for c in columns[oid])
        tables.append(TableInfo(schema, name, cols, tuple(uniques.get(oid, [])), tuple(fks.get(oid, [])),
                                int(size or 0), int(est_rows or 0), int(pages or 0)))
    return tables


def _with_unique(t: ColumnType, unique: bool) -> ColumnType:
    if not unique:
        return t
    from dataclasses import replace

    return replace(t, unique=True)


def read_sequences(cur) -> dict[str, int]:
    """Sequence positions (only those ever used; pg_sequences hides the rest as NULL)."""
    cur.execute("""
        SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value
        FROM pg_sequences WHERE last_value IS NOT NULL
          AND schemaname NOT IN ('pg_catalog', 'information_schema')""")
    return {name: int(value) for name, value in cur.fetchall()}


def read_source_info(cur, redacted_url: str) -> SourceInfo:
    cur.execute("SELECT current_database(), current_setting('server_version'), "
                "current_setting('server_version_num')::int, pg_encoding_to_char(d.encoding), d.datcollate "
                "FROM pg_database d WHERE d.datname = current_database()")
    database, version, version_num, encoding, collation = cur.fetchone()
    cur.execute("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(SETTINGS),))
    settings = {}
    for name, setting, unit in cur.fetchall():
        settings[name] = _with_unit(setting, unit)
    cur.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1")
    extensions = tuple(r[0] for r in cur.fetchall())
    cur.execute("""
        SELECT DISTINCT rolname FROM pg_roles r WHERE r.rolname NOT LIKE 'pg\\_%%' AND (
          r.oid IN (SELECT relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%')
          OR r.oid IN (SELECT nspowner FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema')
                       AND nspname NOT LIKE 'pg_toast%%' AND nspname NOT LIKE 'pg_temp%%')
          OR r.oid IN (SELECT (aclexplode(relacl)).grantee FROM pg_class c JOIN pg_namespace n
                       ON n.oid = c.relnamespace WHERE relacl IS NOT NULL
                       AND n.nspname NOT IN ('pg_catalog', 'information_schema'))
          OR r.oid IN (SELECT (aclexplode(nspacl)).grantee FROM pg_namespace WHERE nspacl IS NOT NULL
                       AND nspname NOT IN ('pg_catalog', 'information_schema'))
          OR r.oid IN (SELECT proowner FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
          OR r.oid IN (SELECT typowner FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
        ) ORDER BY 1""")
    roles = tuple(r[0] for r in cur.fetchall())
    revisions = read_alembic_revisions(cur)
    return SourceInfo(url=redacted_url, database=database, server_version=version.split()[0],
                      server_version_num=version_num, alembic_revisions=revisions, settings=settings,
                      extensions=extensions, roles=roles, encoding=encoding, collation=collation)


def read_alembic_revisions(cur) -> tuple[str, ...]:
    cur.execute("""
        SELECT quote_ident(n.nspname) || '.alembic_version' FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN unnest(current_schemas(false)) WITH ORDINALITY s(name, pos) ON s.name = n.nspname
        WHERE c.relname = 'alembic_version' AND c.relkind = 'r' ORDER BY s.pos LIMIT 1""")
    row = cur.fetchone()
    if not row:
        return ()
    cur.execute(f"SELECT version_num FROM {row[0]} ORDER BY 1")
    return tuple(r[0] for r in cur.fetchall())


def _with_unit(setting: str, unit: str | None) -> str:
    if not unit or not setting.lstrip("-").isdigit():
        return setting
    n = int(setting)
    sizes = {"8kB": 8, "kB": 1, "MB": 1024}
    if unit in sizes:
        kb = n * sizes[unit]
        for u, f in (("GB", 1024 * 1024), ("MB", 1024)):
            if kb >= f and kb % f == 0:
                return f"{kb // f}{u}"
        return f"{kb}kB"
    if unit in ("ms", "s", "min"):
        return f"{n}{unit}"
    return setting


# Every column of every user table (extensions' tables and the version table left out): what a
# policy must name. The policy's coverage check and rule RH405 read the same list.
USER_COLUMNS_SQL = """
SELECT n.nspname, c.relname, a.attname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND n.nspname NOT LIKE 'pg_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
  AND NOT (n.nspname = ANY(current_schemas(false)) AND c.relname = 'alembic_version')
ORDER BY 1, 2, a.attnum
"""
