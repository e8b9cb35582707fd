"""Data fingerprints: row counts and order-independent checksums, computed inside PostgreSQL.

``data_fingerprint(conn)`` reads every user table once (one sequential scan per table, which
PostgreSQL may run with parallel workers) and keeps, per table, the row count and, per column,
the number of non-NULL values and the sum of a 64-bit hash of each value's text form. Sums do
not depend on row order, so a table rewritten by ``ALTER COLUMN ... TYPE`` and back still
matches when its values are the same, and a difference names the columns whose values changed.
A row checksum (the sum of a hash of each row's column hashes) catches values that moved
between rows without changing any column's sum.

``diff_data(before, after)`` says what a downgrade lost: tables gone, rows gone or added,
columns dropped with their non-NULL values, and columns whose values changed.

Where it stops being right: hashes compare the *text form* of values, so two values that print
the same are the same (``1.50`` and ``1.5`` in a ``numeric`` column do not print the same; a
``real`` column keeps its shortest exact text). A collision of 64-bit sums is possible in
principle and negligible in practice. Session settings that change text forms (TimeZone,
DateStyle, IntervalStyle, extra_float_digits, bytea_output) are pinned for the scan.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

from psycopg2 import sql

from rehearse import model
from rehearse.rollback.fingerprint import OWN_PREFIX

# Tables whose content changes on every step by design.
SKIPPED_TABLES = ("alembic_version",)

_PINNED_SETTINGS = (
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, MDY"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "1"),
    ("bytea_output", "hex"),
)


@dataclass(frozen=True)
class ColumnChecksum:
    name: str
    non_null: int
    checksum: int  # sum over non-NULL values of a 64-bit hash seeded by the column's name
    method: str = "text"  # which hash (see _HASHES); sums of different methods do not compare


@dataclass(frozen=True)
class TableChecksum:
    table: str  # "schema.table"
    rows: int
    row_checksum: int
    columns: tuple[ColumnChecksum, ...]
    # Physical identity (oid, file node, column numbers and types): equal stamps plus no newer
    # tuple and the same count prove the content unchanged (see data_fingerprint's `since`).
    stamp: str = field(default="", compare=False)

    @cached_property
    def by_column(self) -> dict[str, ColumnChecksum]:
        return {c.name: c for c in self.columns}


@dataclass(frozen=True)
class DataFingerprint:
    tables: tuple[TableChecksum, ...]
    duration_s: float = field(default=0.0, compare=False)
    # Which database, and which transactions the snapshot it was taken in did not see: every
    # id from xid_horizon (its xmax) on, and the ones still running then (xids_in_progress).
    origin: str = field(default="", compare=False)
    xid_horizon: int | None = field(default=None, compare=False)
    xids_in_progress: tuple[int, ...] = field(default=(), compare=False)
    reused: tuple[str, ...] = field(default=(), compare=False)  # tables proven unchanged, not rehashed

    @cached_property
    def by_table(self) -> dict[str, TableChecksum]:
        return {t.table: t for t in self.tables}

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)


# Hash straight from the binary value where PostgreSQL has a hash function for the type: 1.5x
# faster than printing every value, and the same for smallint, integer and bigint. Everything
# else is hashed from its text form.
_HASHES = {
    "int2": ("int", "hashint8extended({}::int8, {})"),
    "int4": ("int", "hashint8extended({}::int8, {})"),
    "int8": ("int", "hashint8extended({}::int8, {})"),
    "text": ("text", "hashtextextended({}::text, {})"),
    "varchar": ("text", "hashtextextended({}::text, {})"),
    "jsonb": ("jsonb", "jsonb_hash_extended({}, {})"),
    "uuid": ("uuid", "uuid_hash_extended({}, {})"),
    "numeric": ("numeric", "hash_numeric_extended({}, {})"),
    "float8": ("float8", "hashfloat8extended({}, {})"),
    "float4": ("float8", "hashfloat8extended({}::float8, {})"),
    "timestamp": ("timestamp", "timestamp_hash_extended({}::timestamp, {})"),
    "timestamptz": ("timestamp", "timestamp_hash_extended({}::timestamp, {})"),
}
_TEXT_HASH = ("text", "hashtextextended({}::text, {})")


def _seed(column: str) -> int:
    # Seeded by the column's name, not its position: a re-added column lands at the end.
    return zlib.crc32(column.encode("utf-8"))


def _user_tables(cur) -> list[tuple[str, str]]:
    cur.execute(rf"""
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT LIKE 'pg\_%%' AND n.nspname <> 'information_schema'
          AND n.nspname NOT LIKE '\{OWN_PREFIX}%%' AND c.relname NOT LIKE '\{OWN_PREFIX}%%'
          AND c.relname <> ALL(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 1, 2""", (list(SKIPPED_TABLES),))
    return cur.fetchall()


def _resolve(cur, names: Iterable[str]) -> dict[str, tuple[str, str, str]]:
    """Map each name as given to (schema, table, relkind); names that do not exist are left out."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    cur.execute("""
        SELECT w.name, n.nspname, c.relname, c.relkind
        FROM unnest(%s::text[]) AS w(name)
        JOIN pg_class c ON c.oid = to_regclass(w.name)
        JOIN pg_namespace n ON n.oid = c.relnamespace""", (wanted,))
    return {name: (schema, table, kind) for name, schema, table, kind in cur.fetchall()}


def _columns(cur, tables: list[tuple[str, str]]) -> tuple[dict, dict]:
    """Columns (name, base type) of each table, and each table's physical stamp."""
    if not tables:
        return {}, {}
    cur.execute("""
        SELECT n.nspname, c.relname, a.attname, coalesce(bt.typname, t.typname),
               format('%%s/%%s/%%s:%%s:%%s', c.oid, pg_relation_filenode(c.oid), a.attnum,
                      a.atttypid, a.atttypmod)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd'
        JOIN unnest(%s::text[], %s::text[]) AS w(s, t) ON w.s = n.nspname AND w.t = c.relname
        WHERE a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
                ([s for s, _ in tables], [t for _, t in tables]))
    found: dict[tuple[str, str], list[tuple[str, str]]] = {t: [] for t in tables}
    stamps: dict[tuple[str, str], list[str]] = {t: [] for t in tables}
    for schema, table, column, typname, stamp in cur.fetchall():
        found[(schema, table)].append((column, typname))
        stamps[(schema, table)].append(stamp)
    return found, {t: ",".join(parts) for t, parts in stamps.items()}


def _checksum_query(schema: str, table: str, columns: list[tuple[str, str]]) -> sql.Composed:
    """One scan: count(*), the row checksum, then count and hash sum for each column.

    The row checksum sums a hash of the XOR of a row's column hashes (NULL stands for the
    column's seed), so values that moved between rows show even when every column's sum holds.
    """
    hashes, outer, row_parts = [], [sql.SQL("count(*)")], []
    for i, (column, typname) in enumerate(columns):
        alias = sql.Identifier(f"h{i}")
        seed = _seed(column)
        template = _HASHES.get(typname, _TEXT_HASH)[1]
        hashes.append(sql.SQL(template + " AS {}").format(
            sql.Identifier(column), sql.Literal(seed), alias))
        outer += [sql.SQL("count({})").format(alias), sql.SQL("coalesce(sum({}), 0)").format(alias)]
        row_parts.append(sql.SQL("coalesce({}, {})").format(alias, sql.Literal(seed)))
    row = sql.SQL(" # ").join(row_parts) if row_parts else sql.SQL("0::bigint")
    outer.insert(1, sql.SQL("coalesce(sum(hashint8extended({}, 0)), 0)").format(row))
    inner = sql.SQL(", ").join(hashes) if hashes else sql.SQL("1")
    # OFFSET 0 keeps the subquery: flattened, PostgreSQL would compute every hash three times.
    return sql.SQL("SELECT {} FROM (SELECT {} FROM ONLY {}.{} OFFSET 0) AS s").format(
        sql.SQL(", ").join(outer), inner, sql.Identifier(schema), sql.Identifier(table))


def _checksum_table(cur, schema: str, table: str, columns: list[tuple[str, str]], stamp: str) -> TableChecksum:
    cur.execute(_checksum_query(schema, table, columns))
    values = cur.fetchone()
    rows, row_checksum, rest = int(values[0]), int(values[1]), values[2:]
    per_column = tuple(ColumnChecksum(column, int(rest[2 * i]), int(rest[2 * i + 1]),
                                      _HASHES.get(typname, _TEXT_HASH)[0])
                       for i, (column, typname) in enumerate(columns))
    return TableChecksum(f"{schema}.{table}", rows, row_checksum, per_column, stamp)


def _unchanged_since(cur, schema: str, table: str, stamp: str, since: DataFingerprint | None,
                     origin: str) -> TableChecksum | None:
    """The checksum ``since`` holds for this table, when its content provably did not change.

    The proof: same database, same physical stamp (no rewrite, truncate or column change), as
    many rows as then, and no visible tuple written by a transaction the earlier snapshot did
    not see (an id from its xmax on, or one running when it was taken). Every insert and update writes a tuple with a new xmin; a delete alone lowers the
    count. So the visible tuples are a subset of the earlier ones, of the same size: the same.
    Costs a scan without printing or hashing values (about 4x cheaper than a checksum).
    """
    if since is None or since.xid_horizon is None or since.origin != origin:
        return None
    old = since.by_table.get(f"{schema}.{table}")
    if old is None or not old.stamp or old.stamp != stamp:
        return None
    cur.execute(sql.SQL("SELECT count(*), count(*) FILTER (WHERE age(xmin) <= age({}::text::xid) "
                        "OR xmin = ANY({}::text[]::xid[])) FROM ONLY {}.{}").format(
        sql.Literal(str(since.xid_horizon)), sql.Literal([str(x) for x in since.xids_in_progress]),
        sql.Identifier(schema), sql.Identifier(table)))
    rows, newer = cur.fetchone()
    return old if rows == old.rows and newer == 0 else None


class _PinnedSnapshot:
    """One read-only snapshot with text-form settings pinned; restores nothing it did not set."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.own_transaction = bool(conn.autocommit)

    def __enter__(self):
        cur = self.conn.cursor()
        if self.own_transaction:
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for name, value in _PINNED_SETTINGS:
            cur.execute("SELECT set_config(%s, %s, true)", (name, value))
        return cur

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.own_transaction:
            with self.conn.cursor() as cur:
                cur.execute("COMMIT" if exc_type is None else "ROLLBACK")


def data_fingerprint(conn, tables: Iterable[str] | None = None, *,
                     since: DataFingerprint | None = None, previous: DataFingerprint | None = None,
                     changed: Iterable[str] | None = None,
                     touched: Iterable[str] | None = None) -> DataFingerprint:
    """Row counts and per-column checksums of ``tables`` (default: every user table).

    Table names may be qualified (``public.orders``) or resolved through the search_path;
    names that do not exist are left out (``diff_data`` then sees a table that is gone).
    ``alembic_version`` is skipped unless named explicitly. Partitioned tables are covered by
    their partitions; a partitioned table named explicitly stands for its partitions.

    ``since``: an earlier fingerprint of the same database. Tables it provably did not change
    since then (see ``_unchanged_since``) keep their earlier checksums instead of being hashed
    again; a rehearsal passes the previous step's fingerprint so that only the tables a
    migration touched are read in full. ``previous`` is another name for ``since``.
    ``changed``: tables known to be written (from the lock trace); they are hashed again
    without trying the proof. A table missing from ``changed`` is still proven, not trusted.
    ``touched``: the COMPLETE set of tables that may have been written since ``since`` (every
    table on which the migration's backend held a lock that permits writing: PostgreSQL cannot
    change a table's rows without one). Other tables with the same physical stamp keep their
    checksum with no scan at all. ``None`` means the set is not known.
    """
    since = since if since is not None else previous
    known_changed = set(changed or ())
    maybe_written = None if touched is None else {t.replace('"', "") for t in touched}
    started = time.perf_counter()
    with _PinnedSnapshot(conn) as cur:
        if tables is None:
            targets = _user_tables(cur)
        else:
            targets = []
            resolved = _resolve(cur, tables)
            for schema, table, kind in resolved.values():
                if kind == "r":
                    targets.append((schema, table))
                elif kind == "p":
                    targets += _partitions(cur, schema, table)
            targets = list(dict.fromkeys(targets))
        columns, stamps = _columns(cur, targets)
        cur.execute("SELECT (SELECT system_identifier FROM pg_control_system()) || '/' || d.oid, "
                    "pg_snapshot_xmax(pg_current_snapshot())::text, "
                    "(SELECT array_agg(x::text) FROM pg_snapshot_xip(pg_current_snapshot()) x) "
                    "FROM pg_database d WHERE d.datname = current_database()")
        origin, horizon, in_progress = cur.fetchone()
        checksums, reused = [], []
        for schema, table in targets:
            stamp = stamps[(schema, table)]
            written = f"{schema}.{table}" in known_changed or (schema == "public" and table in known_changed)
            kept = None
            if not written and maybe_written is not None and since is not None and since.origin == origin \
                    and f"{schema}.{table}" not in maybe_written:
                old = since.by_table.get(f"{schema}.{table}")
                kept = old if old is not None and old.stamp and old.stamp == stamp else None
            if kept is None and not written:
                kept = _unchanged_since(cur, schema, table, stamp, since, origin)
            if kept is not None:
                reused.append(kept.table)
                checksums.append(kept)
            else:
                checksums.append(_checksum_table(cur, schema, table, columns[(schema, table)], stamp))
        cur.close()
    return DataFingerprint(tuple(checksums), duration_s=time.perf_counter() - started, origin=origin,
                           xid_horizon=int(horizon) % 2**32,
                           xids_in_progress=tuple(int(x) % 2**32 for x in in_progress or ()),
                           reused=tuple(reused))


def _partitions(cur, schema: str, table: str) -> list[tuple[str, str]]:
    cur.execute("""
        SELECT n.nspname, c.relname FROM pg_partition_tree(%s::regclass) p
        JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE p.isleaf AND c.relkind = 'r' ORDER BY 1, 2""",
                (sql.Identifier(schema, table).as_string(cur),))
    return cur.fetchall()


def tables_with_rows(conn, tables: Iterable[str]) -> dict[str, int]:
    """Exact row count of each named table that exists (keys as given); missing tables are left out."""
    counts: dict[str, int] = {}
    with conn.cursor() as cur:
        for name, (schema, table, kind) in _resolve(cur, tables).items():
            if kind not in ("r", "p", "m", "f"):
                continue
            cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
            counts[name] = int(cur.fetchone()[0])
    return counts


# --- the diff --------------------------------------------------------------------------------


def _short(table: str) -> str:
    return table[len("public."):] if table.startswith("public.") else table


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _table_diff(old: TableChecksum, new: TableChecksum) -> model.DataDiff | None:
    name = _short(old.table)
    parts: list[str] = []
    changed: list[str] = []
    if new.rows != old.rows:
        delta = new.rows - old.rows
        what = f"{_plural(-delta, 'row')} lost" if delta < 0 else f"{_plural(delta, 'row')} more"
        parts.append(f"table {name} has {new.rows} rows after the downgrade; it had {old.rows} ({what})")
    for column in old.columns:
        now = new.by_column.get(column.name)
        if now is None:
            if column.non_null:
                changed.append(column.name)
                parts.append(f"column {name}.{column.name} was dropped: "
                             f"{_plural(column.non_null, 'non-null value')} lost")
            continue
        if now.non_null == column.non_null and now.checksum == column.checksum:
            continue
        if now.method != column.method:
            continue  # the column's type changed: the schema diff says so, sums do not compare
        if new.rows != old.rows:
            continue  # rows came or went: every column differs, the row count says it all
        changed.append(column.name)
        if now.non_null == 0:
            parts.append(f"column {name}.{column.name} is back empty: "
                         f"{_plural(column.non_null, 'non-null value')} lost")
        elif now.non_null < column.non_null:
            lost = column.non_null - now.non_null
            parts.append(f"column {name}.{column.name} lost values: {lost} of "
                         f"{_plural(column.non_null, 'non-null value')} are now NULL")
        elif now.non_null == column.non_null:
            parts.append(f"values of column {name}.{column.name} changed "
                         f"({_plural(column.non_null, 'non-null value')}, same count, different content)")
        else:
            parts.append(f"values of column {name}.{column.name} changed "
                         f"({column.non_null} non-null before, {now.non_null} after)")
    same_columns = [c.name for c in old.columns] == [c.name for c in new.columns] or (
        {c.name for c in old.columns} == {c.name for c in new.columns})
    if not parts and same_columns and new.row_checksum != old.row_checksum:
        parts.append(f"rows of table {name} were rearranged: every column holds the same values, "
                     f"but not in the same rows")
    if not parts:
        return None
    return model.DataDiff(old.table, old.rows, new.rows, tuple(changed), "; ".join(parts))


def diff_data(before: DataFingerprint, after: DataFingerprint) -> tuple[model.DataDiff, ...]:
    """What data the downgrade did not bring back, one ``DataDiff`` per table.

    A table that existed before and is gone after is a difference (with the rows it held); a
    table that appeared is not data loss and is left to the schema diff, as are new columns.
    """
    diffs: list[model.DataDiff] = []
    for old in before.tables:
        new = after.by_table.get(old.table)
        if new is None:
            lost = [c.name for c in old.columns if c.non_null]
            message = (f"table {_short(old.table)} is gone after the downgrade: "
                       f"{_plural(old.rows, 'row')} lost" if old.rows else
                       f"table {_short(old.table)} (empty before the upgrade) is gone after the downgrade")
            diffs.append(model.DataDiff(old.table, old.rows, None, tuple(lost), message))
            continue
        diff = _table_diff(old, new)
        if diff is not None:
            diffs.append(diff)
    return tuple(diffs)
