"""Statement tracing: every SQL statement a migration runs, with its cost, locks and rewrites.

The listeners are attached to SQLAlchemy's ``Engine`` class, not to an engine rehearse
created, so they see whatever engine the project's env.py builds (sync or async). After
each statement, on the migration's own connection and inside its own transaction, the
tracer reads the relation locks its backend holds (``pg_locks`` for ``pg_backend_pid()``)
and compares ``relfilenode`` of every relation to spot table and index rewrites. Locks are
closed out when the transaction commits, which gives how long each was held.

Catalog snapshots are skipped for plain DML (it cannot rewrite or change the catalog),
which keeps the overhead to a few milliseconds per DDL statement.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..model import LockTaken, StatementTrace

# PostgreSQL's lock conflict table, reduced to what normal traffic needs:
# reads take AccessShareLock, writes RowExclusiveLock.
_BLOCKS_READS = {"AccessExclusiveLock"}
_BLOCKS_WRITES = {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
# Row changes need RowExclusiveLock (INSERT, UPDATE, DELETE, MERGE, COPY FROM, and the same
# statements run by triggers); pg_locks lists it even when the backend also holds a stronger
# mode. DDL that changes rows without it (rewrites, TRUNCATE, ADD/DROP/retype COLUMN) changes
# the table's physical stamp (relfilenode, columns), which the data fingerprint checks itself.
_ROW_WRITE_MODES = {"RowExclusiveLock", "ExclusiveLock"}

_NO_ROW_WRITES = re.compile(
    r"^\s*(?:--[^\n]*\n\s*)*(?:/\*.*?\*/\s*)*(?:show\b|set\b|reset\b|vacuum\b|analyze\b|"
    r"create\s+(?:unique\s+)?index\b|drop\s+index\b|reindex\b|alter\s+type\s+\S+\s+add\s+value\b|"
    r"comment\b|grant\b|revoke\b)", re.I | re.S)
_DML = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(select|insert|update|delete|with|values|show|set|reset)\b", re.I)
_WRITES_DATA = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(insert|update|delete|with)\b", re.I)

# relkind is cast to text: asyncpg returns the "char" type as bytes
_LOCKS_SQL = """
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text, l.mode,
       greatest(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid)
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = pg_backend_pid() AND l.granted AND l.locktype = 'relation'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 'S', 'v')
"""

_RELATIONS_SQL = """
SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
"""

_FILENODES_SQL = """
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text, c.relfilenode
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND c.relkind IN ('r', 'm', 'i', 't')
"""

_CATALOG_SQL = """
SELECT 'column ' || a.attrelid::regclass::text || '.' || quote_ident(a.attname),
       format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
UNION ALL
SELECT 'constraint ' || quote_ident(co.conname) || ' on ' || co.conrelid::regclass::text,
       pg_get_constraintdef(co.oid) || CASE WHEN co.convalidated THEN '' ELSE ' (not validated)' END
FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace
WHERE co.conrelid <> 0 AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'index ' || quote_ident(n.nspname) || '.' || quote_ident(ic.relname),
       pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' (invalid)' END
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
UNION ALL
SELECT 'table ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%'
"""


def lock_blocks(mode: str) -> tuple[bool, bool]:
    """(blocks reads, blocks writes) of normal traffic for a relation lock mode."""
    return mode in _BLOCKS_READS, mode in _BLOCKS_WRITES


@dataclass
class _Lock:
    relation: str
    mode: str
    acquired: float
    rows: int | None
    bytes: int | None
    released: float | None = None


@dataclass
class _Statement:
    sql: str
    started: float
    location: str | None
    in_transaction: bool
    duration_s: float = 0.0
    ok: bool = True
    error: str | None = None
    locks: list[_Lock] = field(default_factory=list)
    rewrites: tuple[str, ...] = ()
    catalog_changes: tuple[str, ...] = ()
    rows_affected: int | None = None
    probes: dict[str, Any] = field(default_factory=dict)
    lock_wait_s: float = 0.0


class StepTracer:
    """Collects the statements of one Alembic step (one revision, one direction)."""

    def __init__(self, *, revision_file: str | None, version_table: str = "alembic_version",
                 preflight: Callable[[str, Any], dict] | None = None,
                 on_backend: Callable[[int], None] | None = None,
                 on_statement: Callable[[str], None] | None = None, dsn: str | None = None) -> None:
        self.dsn = dsn  # for watching locks of statements that run outside a transaction
        self._pid: int | None = None
        self._samplers: dict[int, "_LockSampler"] = {}
        self.on_backend = on_backend
        self.on_statement = on_statement
        self.revision_file = revision_file
        self.version_table = version_table
        self.preflight = preflight
        self.statements: list[_Statement] = []
        self.recording = False
        self.backend_pids: set[int] = set()
        self._held: dict[tuple[int, str, str], _Lock] = {}  # (conn id, relation, mode) -> lock
        self._pending: dict[int, tuple[_Statement, Any, Any]] = {}
        self._thread = threading.get_ident()
        self._preexisting: set[int] | None = None  # relation oids that existed when the step began

    def start(self) -> None:
        """Record from now on, statements of the calling thread only (the one running the
        migrations: env.py may run them in a worker thread or an event loop's thread)."""
        self._thread = threading.get_ident()
        self.recording = True

    # -- SQLAlchemy event handlers ------------------------------------------------------

    def before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not self.recording or threading.get_ident() != self._thread:
            return
        if self._is_bookkeeping(statement):
            return
        dbapi = _dbapi_connection(cursor)
        if self._preexisting is None:
            rows = _query(dbapi, _RELATIONS_SQL)
            self._preexisting = {row[0] for row in rows} if rows is not None else set()
            if self.on_backend is not None:
                pid = _query(dbapi, "SELECT pg_backend_pid()")
                if pid:
                    self.on_backend(int(pid[0][0]))
        in_txn = _in_transaction(dbapi)
        record = _Statement(sql=_render(statement, parameters, cursor), started=0.0,
                            location=self._location(), in_transaction=in_txn)
        ddl = not _DML.match(statement)
        nodes = catalog = None
        if ddl:
            nodes = _query(dbapi, _FILENODES_SQL)
            catalog = _query(dbapi, _CATALOG_SQL)
            if self.preflight is not None and in_txn:
                try:
                    with dbapi.cursor() as probe_cursor:
                        record.probes = dict(self.preflight(statement, probe_cursor) or {})
                except Exception as exc:  # a probe must never break the migration
                    record.probes = {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
        if ddl and not in_txn and self.dsn:
            # its locks are released before after() can look: watch them from outside while it runs
            if self._pid is None:
                pid = _query(dbapi, "SELECT pg_backend_pid()")
                self._pid = int(pid[0][0]) if pid else None
            if self._pid is not None:
                self._samplers[id(cursor)] = _LockSampler(self.dsn, self._pid, self._preexisting or set(),
                                                          self.version_table).start()
        self._pending[id(cursor)] = (record, nodes, catalog)
        record.started = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        pending = self._pending.pop(id(cursor), None)
        if pending is None:
            return
        record, nodes, catalog = pending
        now = time.perf_counter()
        record.duration_s = now - record.started
        try:
            record.rows_affected = cursor.rowcount if cursor.rowcount is not None and cursor.rowcount >= 0 else None
        except Exception:
            record.rows_affected = None
        dbapi = _dbapi_connection(cursor)
        self._stop_sampler(cursor, record, now)
        if record.in_transaction or _in_transaction(dbapi):
            self._collect_locks(dbapi, record, now)
        if nodes is not None:
            after_nodes = _query(dbapi, _FILENODES_SQL)
            if after_nodes is not None:
                before = {row[0]: row for row in nodes}
                record.rewrites = tuple(sorted(
                    row[1] for row in after_nodes
                    if row[0] in before and before[row[0]][3] != row[3] and row[2] in ("r", "m", "i")))
        if catalog is not None:
            after_catalog = _query(dbapi, _CATALOG_SQL)
            if after_catalog is not None:
                record.catalog_changes = _catalog_diff(dict(catalog), dict(after_catalog))
        self.statements.append(record)
        if self.on_statement is not None:
            self.on_statement(record.sql)

    def error(self, context) -> None:
        cursor = getattr(context, "cursor", None)  # SQLAlchemy 2.0
        if cursor is None and getattr(context, "execution_context", None) is not None:
            cursor = getattr(context.execution_context, "cursor", None)  # 2.1
        pending = self._pending.pop(id(cursor), None) if cursor is not None else None
        if pending is None and len(self._pending) == 1:
            pending = self._pending.popitem()[1]
        if pending is None:
            return
        record = pending[0]
        record.duration_s = time.perf_counter() - record.started
        self._stop_sampler(cursor, record, time.perf_counter())
        record.ok = False
        err = context.original_exception
        record.error = _first_line(err)
        self.statements.append(record)

    def on_commit(self, conn) -> None:
        if not self.recording:
            return
        now = time.perf_counter()
        for lock in self._held.values():
            if lock.released is None:
                lock.released = now
        self._held.clear()

    on_rollback = on_commit

    # -- helpers ------------------------------------------------------------------------

    def _collect_locks(self, dbapi, record: _Statement, now: float) -> None:
        rows = _query(dbapi, _LOCKS_SQL)
        if not rows:
            return
        key_base = id(dbapi)
        for oid, relation, relkind, mode, reltuples, size in rows:
            # locks on objects this step created are invisible to other sessions, and the
            # version table is Alembic's own bookkeeping: neither can block normal traffic
            if self._preexisting is not None and oid not in self._preexisting:
                continue
            if self.version_table in relation:
                continue
            key = (key_base, relation, mode)
            if key in self._held:
                continue
            lock = _Lock(relation=relation, mode=mode, acquired=record.started,
                         rows=int(reltuples) if relkind in ("r", "p", "m") else None, bytes=int(size))
            self._held[key] = lock
            record.locks.append(lock)

    def _stop_sampler(self, cursor, record: _Statement, now: float) -> None:
        sampler = self._samplers.pop(id(cursor), None)
        if sampler is None:
            return
        for relation, mode, rows, size in sampler.stop():
            # outside a transaction a lock lasts as long as its statement
            record.locks.append(_Lock(relation=relation, mode=mode, acquired=record.started, rows=rows,
                                      bytes=size, released=now))

    def _is_bookkeeping(self, statement: str) -> bool:
        lowered = statement.lower()
        return self.version_table in lowered and ("alembic" in self.version_table or "version" in lowered)

    def _location(self) -> str | None:
        if not self.revision_file:
            return None
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename == self.revision_file:
                return f"{self.revision_file}:{frame.f_lineno}"
            frame = frame.f_back
        return None

    def finish(self) -> tuple[StatementTrace, ...]:
        end = time.perf_counter()
        traces = []
        for s in self.statements:
            locks = []
            for lock in s.locks:
                reads, writes = lock_blocks(lock.mode)
                released = lock.released if lock.released is not None else end
                locks.append(LockTaken(relation=lock.relation, mode=lock.mode, blocks_reads=reads,
                                       blocks_writes=writes, held_s=round(released - lock.acquired, 6),
                                       rows=lock.rows, bytes=lock.bytes))
            traces.append(StatementTrace(
                sql=s.sql, duration_s=round(s.duration_s, 6), ok=s.ok, error=s.error,
                in_transaction=s.in_transaction, locks=tuple(locks), rewrites=s.rewrites,
                catalog_changes=s.catalog_changes, location=s.location, rows_affected=s.rows_affected,
                probes=s.probes, lock_wait_s=s.lock_wait_s))
        return tuple(traces)

    def touched_relations(self) -> set[str] | None:
        """Relations whose rows this step may have changed without changing their physical stamp;
        None when that cannot be known.

        Outside a transaction the locks are gone before they can be read (the side sampler can
        miss a short one), so only statements that cannot write rows are trusted there: index
        builds, enum value additions, VACUUM/ANALYZE. (An event trigger doing DML on such a
        statement would escape this; rehearse assumes none does.)
        """
        touched: set[str] = set()
        for s in self.statements:
            if not s.in_transaction and not _NO_ROW_WRITES.match(s.sql):
                return None
            for lock in s.locks:
                if lock.mode in _ROW_WRITE_MODES:
                    touched.add(lock.relation)
        return touched


class _LockSampler:
    """Polls pg_locks for the migration's backend from a connection of its own.

    Used only for DDL that runs outside a transaction (autocommit blocks, CREATE INDEX
    CONCURRENTLY): its locks are gone when the statement returns. Sampling every 20 ms sees
    every lock held longer than that, which is every lock that matters to traffic.
    """

    INTERVAL_S = 0.02

    def __init__(self, dsn: str, pid: int, preexisting: set[int], version_table: str) -> None:
        self.dsn, self.pid, self.preexisting, self.version_table = dsn, pid, preexisting, version_table
        self.seen: dict[tuple[str, str], tuple[int | None, int | None]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "_LockSampler":
        self._thread = threading.Thread(target=self._run, name="rehearse-lock-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        import psycopg2
        try:
            conn = psycopg2.connect(self.dsn, application_name="rehearse lock sampler")
        except Exception:
            return
        conn.autocommit = True
        sql = _LOCKS_SQL.replace("pg_backend_pid()", str(int(self.pid)))
        try:
            with conn.cursor() as cur:
                while not self._stop.is_set():
                    cur.execute(TRACE_MARKER + " " + sql)
                    for oid, relation, relkind, mode, reltuples, size in cur.fetchall():
                        if oid in self.preexisting and self.version_table not in relation:
                            rows = int(reltuples) if relkind in ("r", "p", "m") else None
                            self.seen.setdefault((relation, mode), (rows, int(size)))
                    self._stop.wait(self.INTERVAL_S)
        except Exception:
            pass
        finally:
            conn.close()

    def stop(self) -> list[tuple[str, str, int | None, int | None]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return [(rel, mode, rows, size) for (rel, mode), (rows, size) in self.seen.items()]


@contextmanager
def tracing(tracer: StepTracer) -> Iterator[StepTracer]:
    """Attach ``tracer`` to every SQLAlchemy engine for the duration of the block."""
    hooks = [("before_cursor_execute", tracer.before), ("after_cursor_execute", tracer.after),
             ("handle_error", tracer.error), ("commit", tracer.on_commit), ("rollback", tracer.on_rollback)]
    for name, fn in hooks:
        event.listen(Engine, name, fn)
    try:
        yield tracer
    finally:
        for name, fn in hooks:
            event.remove(Engine, name, fn)


def _dbapi_connection(cursor):
    # SQLAlchemy's asyncpg adapter cursor has no DB-API ``connection`` attribute; its adapted
    # connection runs the catalog queries synchronously, in the migration's own transaction
    return getattr(cursor, "connection", None) or getattr(cursor, "_adapt_connection", None)


def _in_transaction(dbapi) -> bool:
    if dbapi is None:
        return False
    status = getattr(dbapi, "get_transaction_status", None)
    if status is not None:  # psycopg2: 0 idle, 1 active, 2 in transaction, 3 in error
        try:
            return status() in (1, 2, 3)
        except Exception:
            return False
    driver = getattr(dbapi, "driver_connection", None) or getattr(dbapi, "_connection", None)
    is_in = getattr(driver, "is_in_transaction", None)  # asyncpg
    if callable(is_in):
        try:
            if is_in():
                return True
        except Exception:
            return False
        # SQLAlchemy's asyncpg adapter opens its transaction lazily, at the next statement,
        # unless it is in autocommit mode (an autocommit_block)
        return not getattr(dbapi, "autocommit", True)
    return not getattr(dbapi, "autocommit", False)


TRACE_MARKER = "/* rehearse:trace */"  # lets the traffic probe tell our catalog queries from the migration's


def _query(dbapi, sql: str):
    """Run a catalog query on the migration's own connection; None when it cannot be run."""
    if dbapi is None:
        return None
    try:
        cur = dbapi.cursor()
        try:
            cur.execute(TRACE_MARKER + " " + sql)
            return cur.fetchall()
        finally:
            cur.close()
    except Exception:
        return None


def _catalog_diff(before: dict[str, str], after: dict[str, str]) -> tuple[str, ...]:
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None:
            changes.append(f"added {key}: {new}" if not key.startswith("table ") else f"added {key}")
        elif new is None:
            changes.append(f"dropped {key}")
        else:
            changes.append(f"changed {key}: {old} -> {new}")
    return tuple(changes)


def _render(statement: str, parameters: Any, cursor: Any) -> str:
    text = statement.strip()
    if parameters:
        mogrify = getattr(cursor, "mogrify", None)
        if mogrify is not None and not isinstance(parameters, list):
            try:
                rendered = mogrify(statement, parameters)
                text = (rendered.decode() if isinstance(rendered, bytes) else str(rendered)).strip()
            except Exception:
                pass
    return text


def _first_line(err: BaseException | None) -> str:
    if err is None:
        return "unknown error"
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
