"""Data fingerprints: row counts and order-independent checksums, computed inside PostgreSQL.

``data_fingerprint(conn)`` reads every user table once and keeps, per table, the row count
and, per column, the number of non-NULL values and the sum of a 64-bit hash of each value's
text form. Sums do not depend on row order, so a table rewritten by ``ALTER COLUMN ... TYPE``
and back still matches when its values are the same, and a difference names the columns whose
values changed. Sums also add: the scans run on two connections sharing one exported snapshot
(hashing is CPU-bound), and a large table is read as two block ranges whose sums are added.
A row checksum (the sum of a hash of each row's column hashes) catches values that moved
between rows without changing any column's sum.

Within a rehearsal most steps only run DDL on a big table (ADD or DROP COLUMN, a type change
without a rewrite). When the lock trace shows that a step wrote no rows to a table and its file
is the same, only the columns that are new or changed are hashed; the others keep their sums.
Row checksums are kept per column set (``TableChecksum.row_sums``): a table hashed whole also
sums the sets earlier fingerprints covered, so fingerprints taken with different columns still
compare. Fingerprints of the same ``generation`` (no row written in between) need no row check.

``diff_data(before, after)`` says what a downgrade lost: tables gone, rows gone or added,
columns dropped with their non-NULL values, and columns whose values changed.

Where it stops being right: hashes compare the *text form* of values, so two values that print
the same are the same (``1.50`` and ``1.5`` in a ``numeric`` column do not print the same; a
``real`` column keeps its shortest exact text). A collision of 64-bit sums is possible in
principle and negligible in practice. Session settings that change text forms (TimeZone,
DateStyle, IntervalStyle, extra_float_digits, bytea_output) are pinned for the scan.
"""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cached_property

import psycopg2
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

# Hashing is CPU-bound: the scans run on up to WORKERS connections sharing one snapshot. A table
# over SPLIT_ROWS rows (planner estimate) or SPLIT_BYTES is cut into one block range per
# connection. Less work than PARALLEL_MIN_BYTES in all is not worth opening a second connection
# (about 10 ms).
WORKERS = 2
SPLIT_ROWS = 50_000
SPLIT_BYTES = 8 * 2**20
PARALLEL_MIN_BYTES = 8 * 2**20
_TID_RANGE_SCAN = 140000  # server_version_num from which `ctid >= ... AND ctid < ...` reads only that range


@dataclass(frozen=True)
class ColumnChecksum:
    name: str
    non_null: int
    checksum: int  # sum over non-NULL values of a 64-bit hash seeded by the column's name
    method: str = "text"  # which hash (see _HASHES); sums of different methods do not compare


RowKey = tuple[tuple[str, str], ...]  # the (column, hash method) pairs a row checksum covers, sorted


@dataclass(frozen=True)
class TableChecksum:
    table: str  # "schema.table"
    rows: int
    row_checksum: int
    columns: tuple[ColumnChecksum, ...]
    # Physical identity (oid, file node, column numbers and types): equal stamps plus no newer
    # tuple and the same count prove the content unchanged (see data_fingerprint's `since`).
    stamp: str = field(default="", compare=False)
    # Row checksums per column set, ((column, hash method) pairs sorted -> sum): the full set when
    # the table was hashed whole, plus the sets the fingerprint it followed covered. None: a set
    # that cannot be summed now (one of its columns is gone or changed); the next whole hash
    # after its columns are back sums it again, so a later fingerprint compares with this one.
    row_sums: tuple[tuple[RowKey, int | None], ...] = field(default=(), compare=False)
    # The whole-table hash these rows come from: two fingerprints of one generation have no row
    # written between them (only column DDL), so no value can have moved between rows.
    generation: str = field(default="", compare=False)

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
    narrowed: tuple[str, ...] = field(default=(), compare=False)  # only new or changed columns hashed

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


def _sizes(cur, tables: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, float]]:
    """Each table's size in blocks (of its main fork) and its planner row estimate."""
    if not tables:
        return {}
    cur.execute("""
        SELECT n.nspname, c.relname, pg_relation_size(c.oid) / current_setting('block_size')::int,
               c.reltuples
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN unnest(%s::text[], %s::text[]) AS w(s, t) ON w.s = n.nspname AND w.t = c.relname""",
                ([s for s, _ in tables], [t for _, t in tables]))
    return {(schema, table): (int(blocks), float(rows)) for schema, table, blocks, rows in cur.fetchall()}


def _block_ranges(blocks: int, parts: int) -> list[tuple[int | None, int | None]]:
    """``parts`` ranges [first, end) of block numbers covering the whole table, open at both ends.

    The ends are open so that a tuple outside the size read from the catalog is still counted.
    """
    parts = max(1, min(parts, blocks))
    cuts = [blocks * i // parts for i in range(1, parts)]
    return list(zip([None, *cuts], [*cuts, None]))


def _where_blocks(blocks: tuple[int | None, int | None]) -> sql.Composable:
    # Tuple offsets start at 1, so '(b,0)' sorts before every tuple of block b.
    first, end = blocks
    conditions = []
    if first is not None:
        conditions.append(sql.SQL("ctid >= {}::tid").format(sql.Literal(f"({first},0)")))
    if end is not None:
        conditions.append(sql.SQL("ctid < {}::tid").format(sql.Literal(f"({end},0)")))
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")


def _checksum_query(schema: str, table: str, columns: list[tuple[str, str]],
                    blocks: tuple[int | None, int | None] = (None, None),
                    extra_rows: list[list[int]] = ()) -> sql.Composed:
    """One scan: count(*), the row checksum, one more row checksum per column subset in
    ``extra_rows`` (column positions), then count and hash sum for each column.

    The row checksum sums a hash of the XOR of a row's column hashes (NULL stands for the
    column's seed), so values that moved between rows show even when every column's sum holds.
    Every output is a count or an exact (numeric) sum, so the results of scans over disjoint
    block ranges add up to the result of one scan over the whole table (see ``_add``).
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

    def row_sum(parts: list) -> sql.Composable:
        row = sql.SQL(" # ").join(parts) if parts else sql.SQL("0::bigint")
        return sql.SQL("coalesce(sum(hashint8extended({}, 0)), 0)").format(row)

    outer[1:1] = [row_sum(row_parts)] + [row_sum([row_parts[i] for i in subset]) for subset in extra_rows]
    inner = sql.SQL(", ").join(hashes) if hashes else sql.SQL("1")
    # OFFSET 0 keeps the subquery: flattened, PostgreSQL would compute every hash three times.
    return sql.SQL("SELECT {} FROM (SELECT {} FROM ONLY {}.{}{} OFFSET 0) AS s").format(
        sql.SQL(", ").join(outer), inner, sql.Identifier(schema), sql.Identifier(table),
        _where_blocks(blocks))


def _row_key(columns: list[tuple[str, str]]) -> RowKey:
    return tuple(sorted((column, _HASHES.get(typname, _TEXT_HASH)[0]) for column, typname in columns))


def _extra_row_sets(columns: list[tuple[str, str]], old: TableChecksum | None
                    ) -> tuple[list[RowKey], list[list[int]], list[RowKey]]:
    """The row-checksum sets of ``old`` besides the full set of ``columns``: those these columns
    cover (their keys, and each as column positions for ``_checksum_query``), and those they do
    not (carried as not summable now)."""
    if old is None:
        return [], [], []
    position = {(column, _HASHES.get(typname, _TEXT_HASH)[0]): i for i, (column, typname) in enumerate(columns)}
    full = _row_key(columns)
    keys, subsets, dormant = [], [], []
    for key, _ in old.row_sums:
        if key == full:
            continue
        if all(pair in position for pair in key):
            keys.append(key)
            subsets.append([position[pair] for pair in key])
        else:
            dormant.append(key)
    return keys, subsets, dormant


def _add(partials: list[tuple]) -> tuple[int, ...]:
    """Column-wise sum of the results of scans over disjoint parts of one table.

    Only valid for queries whose every output is a count or a sum (``_checksum_query`` and
    ``_newer_tuples_query``): those are additive over a partition of the rows.
    """
    return tuple(sum(int(value) for value in column) for column in zip(*partials))


def _table_checksum(schema: str, table: str, columns: list[tuple[str, str]], stamp: str,
                    values: tuple[int, ...], extra_keys: list[RowKey] = (), generation: str = "",
                    dormant: list[RowKey] = ()) -> TableChecksum:
    rows, row_checksum = values[0], values[1]
    extra, rest = values[2:2 + len(extra_keys)], values[2 + len(extra_keys):]
    per_column = tuple(ColumnChecksum(column, rest[2 * i], rest[2 * i + 1], _HASHES.get(typname, _TEXT_HASH)[0])
                       for i, (column, typname) in enumerate(columns))
    row_sums = ((_row_key(columns), row_checksum), *zip(extra_keys, extra), *((key, None) for key in dormant))
    return TableChecksum(f"{schema}.{table}", rows, row_checksum, per_column, stamp, row_sums, generation)


def _split_stamp(stamp: str) -> tuple[set[str], list[str]]:
    """A stamp's relation part(s) ("oid/filenode") and its per-column part ("attnum:type:typmod")."""
    relations, columns = set(), []
    for part in stamp.split(","):
        oid, filenode, column = part.split("/", 2)
        relations.add(f"{oid}/{filenode}")
        columns.append(column)
    return relations, columns


def _column_delta(old: TableChecksum, stamp: str, columns: list[tuple[str, str]]):
    """For a table no row was written to since ``old``: the column sums that still hold, the
    columns to hash, and the row checksums that still hold; None when it must be hashed whole.

    Without a row written and without a new file (a rewrite, a truncate), a column with the same
    name, number, type and type modifier holds the same values: DDL that changes values in place
    rewrites the table. The row checksums whose columns all still hold stay true of these rows.
    """
    if not old.stamp or not stamp or not old.generation:
        return None
    old_relations, old_parts = _split_stamp(old.stamp)
    new_relations, new_parts = _split_stamp(stamp)
    if len(new_relations) != 1 or old_relations != new_relations or len(old_parts) != len(old.columns):
        return None
    before = {c.name: (c, part) for c, part in zip(old.columns, old_parts)}
    kept: dict[str, ColumnChecksum] = {}
    to_hash: list[tuple[str, str]] = []
    for (column, typname), part in zip(columns, new_parts):
        was = before.get(column)
        if was is not None and was[1] == part and was[0].method == _HASHES.get(typname, _TEXT_HASH)[0]:
            kept[column] = was[0]
        else:
            to_hash.append((column, typname))
    holding = {(c.name, c.method) for c in kept.values()}
    present = {(column, _HASHES.get(typname, _TEXT_HASH)[0]) for column, typname in columns}
    row_sums = []
    for key, value in old.row_sums:
        if value is not None and set(key) <= holding:
            row_sums.append((key, value))  # its columns hold the same values in the same rows
        elif set(key) <= present:
            return None  # summable now but not known: only a whole hash can sum it
        else:
            row_sums.append((key, None))  # one of its columns is gone: carried until it is back
    if all(value is None for _, value in row_sums):
        return None  # no row checksum would be left to compare: hash it whole
    return kept, to_hash, tuple(row_sums)


def _proof_candidate(schema: str, table: str, stamp: str, since: DataFingerprint | None,
                     origin: str) -> TableChecksum | None:
    """The checksum ``since`` holds for this table, if a count scan may prove it still holds.

    The proof: same database, same physical stamp (no rewrite, truncate or column change), as
    many rows as then, and no visible tuple written by a transaction the earlier snapshot did
    not see (an id from its xmax on, or one running when it was taken; ``_newer_tuples_query``
    counts both). Every insert and update writes a tuple with a new xmin; a delete alone lowers
    the count. So the visible tuples are a subset of the earlier ones, of the same size: the
    same. The scan neither prints nor hashes values (about 4x cheaper than a checksum).
    """
    if since is None or since.xid_horizon is None or since.origin != origin:
        return None
    old = since.by_table.get(f"{schema}.{table}")
    return old if old is not None and old.stamp and old.stamp == stamp else None


def _newer_tuples_query(schema: str, table: str, since: DataFingerprint,
                        blocks: tuple[int | None, int | None] = (None, None)) -> sql.Composed:
    """count(*), and the count of tuples written by a transaction ``since`` did not see."""
    return sql.SQL("SELECT count(*), count(*) FILTER (WHERE age(xmin) <= age({}::text::xid) "
                   "OR xmin = ANY({}::text[]::xid[])) FROM ONLY {}.{}{}").format(
        sql.Literal(str(since.xid_horizon)), sql.Literal([str(x) for x in since.xids_in_progress]),
        sql.Identifier(schema), sql.Identifier(table), _where_blocks(blocks))


def _begin_pinned(cur) -> None:
    for name, value in _PINNED_SETTINGS:
        cur.execute("SELECT set_config(%s, %s, true)", (name, value))


class _PinnedSnapshot:
    """One read-only snapshot with text-form settings pinned; restores nothing it did not set.

    With ``export``, the snapshot is exported (``snapshot_id``) for other connections to share;
    only in a transaction of its own, and None if the server refuses.
    """

    def __init__(self, conn, export: bool = False) -> None:
        self.conn = conn
        self.own_transaction = bool(conn.autocommit)
        self.export = export and self.own_transaction
        self.snapshot_id: str | None = None

    def __enter__(self):
        cur = self.conn.cursor()
        if self.own_transaction:
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if self.export:
                # first thing in the transaction: a refusal then costs a fresh start, nothing read
                try:
                    cur.execute("SELECT pg_export_snapshot()")
                    (self.snapshot_id,) = cur.fetchone()
                except psycopg2.Error:
                    cur.execute("ROLLBACK")
                    cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        _begin_pinned(cur)
        return cur

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.own_transaction:
            with self.conn.cursor() as cur:
                cur.execute("COMMIT" if exc_type is None else "ROLLBACK")


class _SharedSnapshot:
    """A second connection reading in an exported snapshot of ``conn``, settings pinned alike.

    Opened with the first connection's parameters (and password, if any). Yields a cursor, or
    None when no second connection can be had (too many connections, a server that refuses the
    snapshot): the caller then does all the work on the first connection.
    """

    def __init__(self, conn, snapshot_id: str) -> None:
        self.conn, self.snapshot_id, self.other = conn, snapshot_id, None

    def __enter__(self):
        try:
            params = dict(self.conn.info.dsn_parameters)
            password = getattr(self.conn.info, "password", None)
            if password:
                params["password"] = password
            params.setdefault("connect_timeout", "10")
            self.other = psycopg2.connect(**params)
            self.other.autocommit = True
            cur = self.other.cursor()
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur.execute("SET TRANSACTION SNAPSHOT %s", (self.snapshot_id,))
            _begin_pinned(cur)
            return cur
        except psycopg2.Error:
            self._close()
            return None

    def cancel(self) -> None:
        if self.other is not None:
            try:
                self.other.cancel()
            except psycopg2.Error:
                pass  # already gone: nothing left to stop

    def _close(self) -> None:
        if self.other is not None:
            self.other.close()  # ends its read-only transaction; there is nothing to commit
            self.other = None

    def __exit__(self, exc_type, exc, tb) -> None:
        self._close()


@dataclass(frozen=True)
class _Scan:
    kind: str  # "count" (the proof that a table is unchanged), "hash" or "columns" (only some of them)
    table: tuple[str, str]
    blocks: tuple[int | None, int | None]
    weight: float  # bytes to read, scaled by cost: only orders the work


def _run_scans(cursors: list, first: list[_Scan], execute: Callable, done: Callable,
               cancel: Callable[[], None] = lambda: None) -> None:
    """Runs every scan, largest first, on each cursor in its own thread; ``done`` may add scans.

    ``execute(cur, scan)`` returns the scan's row; ``done(scan, row)`` is called under the lock
    and returns further scans. The first cursor is used by the calling thread. On any error
    (Ctrl-C included) the other connections are cancelled and the first error is raised.
    """
    pending = sorted(first, key=lambda s: s.weight)  # popped from the end: largest first
    lock = threading.Condition()
    state = {"in_flight": 0, "stop": False}
    errors: list[BaseException] = []

    def work(cur) -> None:
        while True:
            with lock:
                while not pending and state["in_flight"] and not state["stop"]:
                    lock.wait()
                if state["stop"] or not pending:
                    lock.notify_all()
                    return
                scan = pending.pop()
                state["in_flight"] += 1
            try:
                row = execute(cur, scan)
                with lock:
                    pending.extend(done(scan, row))
                    pending.sort(key=lambda s: s.weight)
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                with lock:
                    errors.append(exc)
                    state["stop"] = True
                return
            finally:
                with lock:
                    state["in_flight"] -= 1
                    lock.notify_all()

    helpers = [threading.Thread(target=work, args=(cur,), name="rehearse-fingerprint", daemon=True)
               for cur in cursors[1:]]
    for thread in helpers:
        thread.start()
    finished = False
    try:
        work(cursors[0])
        finished = True
    finally:
        if not finished or errors:  # stop the other connections' scans too, then wait for them
            with lock:
                state["stop"] = True
                lock.notify_all()
            cancel()
        for thread in helpers:
            thread.join()
    if errors:
        raise errors[0]


def data_fingerprint(conn, tables: Iterable[str] | None = None, *,
                     since: DataFingerprint | None = None, previous: DataFingerprint | None = None,
                     changed: Iterable[str] | None = None,
                     touched: Iterable[str] | None = None, workers: int | None = None) -> DataFingerprint:
    """Row counts and per-column checksums of ``tables`` (default: every user table).

    Table names may be qualified (``public.orders``) or resolved through the search_path;
    names that do not exist are left out (``diff_data`` then sees a table that is gone).
    ``alembic_version`` is skipped unless named explicitly. Partitioned tables are covered by
    their partitions; a partitioned table named explicitly stands for its partitions.

    ``since``: an earlier fingerprint of the same database. Tables it provably did not change
    since then (see ``_proof_candidate``) keep their earlier checksums instead of being hashed
    again; a rehearsal passes the previous step's fingerprint so that only the tables a
    migration touched are read in full. ``previous`` is another name for ``since``.
    ``changed``: tables known to be written (from the lock trace); they are hashed again
    without trying the proof. A table missing from ``changed`` is still proven, not trusted.
    ``touched``: the COMPLETE set of tables whose rows may have changed since ``since`` without
    their physical stamp changing (every table on which the migration's backend held
    RowExclusiveLock: no INSERT/UPDATE/DELETE runs without it; DDL that changes rows rewrites
    the table or changes its columns, which changes the stamp). Other tables with the same physical stamp keep their
    checksum with no scan at all; those whose file is the same but whose columns changed (column
    DDL only) get only their new or changed columns hashed (``_column_delta``; listed in the
    result's ``narrowed``). ``None`` means the set is not known.

    ``workers``: connections to scan on (default ``WORKERS``, used when there are at least
    ``PARALLEL_MIN_BYTES`` to read; an explicit 2 always opens the second one). The second
    connection imports the first one's snapshot, so both read the same rows; large tables are
    cut into block ranges whose sums add up to the same checksums. With ``conn`` in a
    transaction of its own (not autocommit) the work stays on ``conn``: another connection
    would not see what that transaction wrote.
    """
    since = since if since is not None else previous
    known_changed = set(changed or ())
    maybe_written = None if touched is None else {t.replace('"', "") for t in touched}
    started = time.perf_counter()
    wanted = WORKERS if workers is None else max(1, workers)
    pinned = _PinnedSnapshot(conn, export=wanted > 1)
    with pinned as cur:
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
                    "(SELECT array_agg(x::text) FROM pg_snapshot_xip(pg_current_snapshot()) x), "
                    "current_setting('block_size')::int "
                    "FROM pg_database d WHERE d.datname = current_database()")
        origin, horizon, in_progress, block_size = cur.fetchone()
        found: dict[tuple[str, str], TableChecksum] = {}
        proofs: dict[tuple[str, str], TableChecksum] = {}  # tables to prove unchanged, with the old checksum
        # tables only column DDL touched: (old checksum, sums kept, columns to hash, row sums kept)
        partial: dict[tuple[str, str], tuple] = {}
        to_hash: list[tuple[str, str]] = []
        for schema, table in targets:
            stamp = stamps[(schema, table)]
            written = f"{schema}.{table}" in known_changed or (schema == "public" and table in known_changed)
            if written:
                to_hash.append((schema, table))
                continue
            if maybe_written is not None and since is not None and since.origin == origin \
                    and f"{schema}.{table}" not in maybe_written:
                old = since.by_table.get(f"{schema}.{table}")
                if old is not None and old.stamp and old.stamp == stamp:
                    found[(schema, table)] = old
                    continue
                delta = _column_delta(old, stamp, columns[(schema, table)]) if old is not None else None
                if delta is not None:  # column DDL only: hash the new or changed columns alone
                    kept, hash_now, row_sums = delta
                    partial[(schema, table)] = (old, kept, hash_now, row_sums)
                    if not hash_now:
                        found[(schema, table)] = _merged(schema, table, columns[(schema, table)], stamp, old, kept,
                                                         row_sums, None)
                    continue
            old = _proof_candidate(schema, table, stamp, since, origin)
            if old is not None:
                proofs[(schema, table)] = old
            else:
                to_hash.append((schema, table))

        narrow = {t: d for t, d in partial.items() if d[2]}
        sizes = _sizes(cur, [*proofs, *to_hash, *narrow])
        volume = sum(sizes.get(t, (0, 0))[0] for t in [*proofs, *to_hash, *narrow]) * block_size
        parallel = (pinned.snapshot_id is not None and bool(sizes)
                    and (workers is not None or volume >= PARALLEL_MIN_BYTES))
        shared = _SharedSnapshot(conn, pinned.snapshot_id) if parallel else None
        with shared or nullcontext() as other:
            cursors = [cur] if other is None else [cur, other]
            if other is not None:
                # each connection is one core's worth already; parallel workers would oversubscribe
                for c in cursors:
                    c.execute("SELECT set_config('max_parallel_workers_per_gather', '0', true)")
            _scan_all(cursors, cancel=shared.cancel if other is not None else (lambda: None), found=found,
                      proofs=proofs, to_hash=to_hash, narrow=narrow, sizes=sizes, block_size=block_size,
                      columns=columns, stamps=stamps, since=since, generation=f"{origin}/{uuid.uuid4().hex}",
                      split=other is not None and conn.server_version >= _TID_RANGE_SCAN)
        cur.close()
    checksums = [found[t] for t in targets]
    hashed = set(to_hash)
    narrowed = [found[t].table for t in targets if t in partial and t not in hashed]
    reused = [found[t].table for t in targets if t not in hashed and t not in partial]
    return DataFingerprint(tuple(checksums), duration_s=time.perf_counter() - started, origin=origin,
                           xid_horizon=int(horizon) % 2**32,
                           xids_in_progress=tuple(int(x) % 2**32 for x in in_progress or ()),
                           reused=tuple(reused), narrowed=tuple(narrowed))


def _scan_all(cursors, *, cancel, found, proofs, to_hash, narrow, sizes, block_size, columns, stamps,
              since, generation, split) -> None:
    """Proves or hashes every table in ``proofs``, ``to_hash`` and ``narrow`` (only some columns);
    results go to ``found``."""
    parts: dict[tuple[str, tuple[str, str]], list] = {}
    expected: dict[tuple[str, tuple[str, str]], int] = {}
    extra = {t: _extra_row_sets(columns[t], since.by_table.get(f"{t[0]}.{t[1]}") if since is not None else None)
             for t in columns}

    def scans(kind: str, table: tuple[str, str]) -> list[_Scan]:
        blocks, rows = sizes.get(table, (0, 0.0))
        large = rows > SPLIT_ROWS or blocks * block_size > SPLIT_BYTES
        ranges = _block_ranges(blocks, len(cursors)) if split and large else [(None, None)]
        expected[(kind, table)] = len(ranges)
        weight = blocks * block_size / len(ranges) / (4 if kind == "count" else 1)
        return [_Scan(kind, table, r, weight) for r in ranges]

    def execute(c, scan: _Scan) -> tuple:
        schema, table = scan.table
        if scan.kind == "count":
            c.execute(_newer_tuples_query(schema, table, since, scan.blocks))
        elif scan.kind == "columns":
            c.execute(_checksum_query(schema, table, narrow[scan.table][2], scan.blocks))
        else:
            c.execute(_checksum_query(schema, table, columns[scan.table], scan.blocks, extra[scan.table][1]))
        return c.fetchone()

    def done(scan: _Scan, row: tuple) -> list[_Scan]:
        key = (scan.kind, scan.table)
        parts.setdefault(key, []).append(row)
        if len(parts[key]) < expected[key]:
            return []
        values = _add(parts.pop(key))
        schema, table = scan.table
        if scan.kind == "hash":
            found[scan.table] = _table_checksum(schema, table, columns[scan.table], stamps[scan.table], values,
                                                extra[scan.table][0], generation, extra[scan.table][2])
            return []
        if scan.kind == "columns":
            old, kept, hash_now, row_sums = narrow[scan.table]
            if values[0] != old.rows:  # rows came or went after all: hash the table whole
                to_hash.append(scan.table)
                return scans("hash", scan.table)
            fresh = _table_checksum(schema, table, hash_now, "", values)
            found[scan.table] = _merged(schema, table, columns[scan.table], stamps[scan.table], old, kept,
                                        row_sums, fresh)
            return []
        old = proofs[scan.table]
        rows, newer = values
        if rows == old.rows and newer == 0:
            found[scan.table] = old
            return []
        to_hash.append(scan.table)
        return scans("hash", scan.table)

    first = ([s for t in proofs for s in scans("count", t)] + [s for t in list(to_hash) for s in scans("hash", t)]
             + [s for t in narrow for s in scans("columns", t)])
    if first:
        _run_scans(cursors, first, execute, done, cancel=cancel)


def _merged(schema: str, table: str, columns: list[tuple[str, str]], stamp: str, old: TableChecksum,
            kept: dict[str, ColumnChecksum], row_sums: tuple, fresh: TableChecksum | None) -> TableChecksum:
    """A table only column DDL touched: kept sums, the fresh columns' sums, the old rows."""
    new = fresh.by_column if fresh is not None else {}
    per_column = tuple(kept.get(column) or new[column] for column, _ in columns)
    return TableChecksum(f"{schema}.{table}", old.rows, old.row_checksum, per_column, stamp, row_sums, old.generation)


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
    return table.removeprefix("public.")


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
    if not parts and same_columns and _rows_moved(old, new):
        parts.append(f"rows of table {name} were rearranged: every column holds the same values, "
                     f"but not in the same rows")
    if not parts:
        return None
    return model.DataDiff(old.table, old.rows, new.rows, tuple(changed), "; ".join(parts))


def _rows_moved(old: TableChecksum, new: TableChecksum) -> bool:
    """Whether values moved between rows, when every column's sum holds.

    One generation (no row written in between): they cannot have. Otherwise the row checksums
    over the column sets both fingerprints cover are compared (a table hashed whole also sums
    the sets of the fingerprint it followed, so the set of the earlier one is there).
    """
    if old.generation and old.generation == new.generation:
        return False
    if not old.row_sums or not new.row_sums:
        return new.row_checksum != old.row_checksum
    theirs = dict(new.row_sums)
    return any(value is not None and theirs.get(key) is not None and theirs[key] != value
               for key, value in old.row_sums)


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
