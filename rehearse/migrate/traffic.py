"""The contention rehearsal: a small live workload that measures who the migration blocks.

While a revision runs, ``TrafficProbe`` sends reads and writes to the tables it touches from
connections of its own, at a configurable rate, and a monitor thread watches ``pg_locks`` /
``pg_blocking_pids`` every ~50 ms. The result is per table and kind of query: how long normal
queries waited, behind which statement and which lock mode ("writes to orders blocked 41.2 s
by ALTER TABLE orders ... (AccessExclusiveLock)"). With the migration backend's pid known, it
also measures how long each migration statement itself waited for locks held by the traffic,
which tells which statements ``SET lock_timeout`` would have failed (``--lock-timeout``).

The workload never changes data (the rollback proof compares checksums): reads are plain
SELECTs with a LIMIT; writes are ``UPDATE t SET c = c WHERE false`` inside a transaction that is
always rolled back. PostgreSQL takes the table's RowExclusiveLock while parsing the UPDATE, so
the write waits on exactly the locks a real write would, even though no row matches; the
rollback also undoes whatever a statement-level trigger might do.

Where it stops being right: a wait shorter than the gap between two queries on a table
(tables / rate seconds) or than one monitor poll can be missed; row-level conflicts (a real
UPDATE of a row the migration is backfilling) are not exercised, only relation locks.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

import psycopg2
import psycopg2.extensions

from rehearse import model
from rehearse.errors import InfrastructureError
from rehearse.migrate.trace import TRACE_MARKER as _TRACER_MARKER  # the child's catalog queries carry it too
from rehearse.urls import redact

# --- PostgreSQL's table-level lock conflict matrix (docs: "Table-Level Lock Modes") ---------

LOCK_MODES = model.LOCK_MODES

_CONFLICTS = model.LOCK_CONFLICTS

# Predicate locks of serializable transactions appear in pg_locks but block nobody.
_NON_BLOCKING = {"SIReadLock"}


def normalize_mode(mode: str) -> str:
    """'ACCESS EXCLUSIVE', 'access_exclusive' or 'AccessExclusiveLock' -> 'AccessExclusiveLock'."""
    if mode.strip() in _NON_BLOCKING:
        return mode.strip()
    words = re.split(r"[\s_]+|(?<=[a-z])(?=[A-Z])", mode.strip())
    name = "".join(w.capitalize() for w in words if w and w.lower() != "lock") + "Lock"
    if name not in _CONFLICTS and name not in _NON_BLOCKING:
        raise ValueError(f"unknown PostgreSQL lock mode {mode!r}; expected one of {', '.join(LOCK_MODES)}")
    return name


def conflicts(held: str, requested: str) -> bool:
    """True when a lock ``held`` on a table makes a request for ``requested`` wait."""
    held, requested = normalize_mode(held), normalize_mode(requested)
    if held in _NON_BLOCKING or requested in _NON_BLOCKING:
        return False
    return requested in _CONFLICTS[held]


def lock_conflicts(mode: str) -> dict[str, bool]:
    """What a table lock of ``mode`` does to normal traffic while it is held.

    Reads are plain SELECTs (AccessShareLock); writes are INSERT/UPDATE/DELETE
    (RowExclusiveLock). ``{"blocks_reads": ..., "blocks_writes": ...}``.
    """
    return {"blocks_reads": conflicts(mode, "AccessShareLock"),
            "blocks_writes": conflicts(mode, "RowExclusiveLock")}


def describe(b: model.BlockedTraffic) -> str:
    """One line for the report: 'writes to orders blocked 41.2 s by ALTER TABLE ... (AccessExclusiveLock)'."""
    text = f"{b.kind}s to {b.table} blocked {b.blocked_s:.1f} s"
    if b.blocker_statement:
        text += f" by {_shorten(b.blocker_statement)}"
    if b.blocker_lock_mode:
        text += f" ({b.blocker_lock_mode})"
    if b.queries > 1:
        text += f"; {b.queries} queries waited {b.total_blocked_s:.1f} s in all"
    return text


def _shorten(sql: str, limit: int = 80) -> str:
    one = " ".join(sql.split())
    return one if len(one) <= limit else one[: limit - 4].rstrip() + " ..."




def _pick_statement(query: str, table: str) -> str:
    """From a multi-statement query string, the statement that most likely took the lock.

    A client may send ``BEGIN; ALTER TABLE t ...; SELECT pg_sleep(1); COMMIT`` as one string;
    pg_stat_activity then shows all of it. Report the first statement naming the table.
    """
    if ";" not in query.strip().rstrip(";"):
        return query.strip()
    try:
        from pglast import split  # parser-backed split; fall back to a naive one on odd input

        parts = list(split(query))
    except Exception:  # noqa: BLE001 - any parse failure: keep the text as it is
        parts = [p for p in query.split(";") if p.strip()]
    bare = table.split(".")[-1].strip('"').lower()
    for part in parts:
        if re.search(rf"\b{re.escape(bare)}\b", part.lower()) and not part.lstrip().lower().startswith(
                ("begin", "start", "commit", "end", "rollback", "set ")):
            return part.strip()
    return query.strip()


# --- the probe -----------------------------------------------------------------------------

POLL_S = 0.05
STATEMENT_TIMEOUT_MS = 600_000  # a traffic query never waits longer than 10 min
APP_NAME = "rehearse-traffic"


@dataclass
class _Table:
    oid: int
    qualified: str  # quoted, ready for SQL
    display: str  # "orders" or "billing.invoices"
    column: str | None  # quoted; the column the write "updates" (to itself, on no row)


@dataclass
class _Query:
    """One traffic query in flight, as the worker timed it and the monitor saw it."""

    table: str
    kind: str
    start: float
    end: float | None = None
    seen: list[tuple] = field(default_factory=list)  # (blocker pid, xact_start, relation, query, mode)


@dataclass
class _Wait:
    """One lock wait of the migration backend (one pg_locks waitstart)."""

    statement: str
    waited_s: float
    blockers: set[int] = field(default_factory=set)


class TrafficProbe:
    """Concurrent reads and writes on a few tables, measuring lock waits in both directions.

    Use as a context manager around a migration step; it never touches the migration's own
    connection. ``tables=None`` picks the largest user tables (up to ``max_tables``).
    ``rate`` is queries per second per kind (reads, writes), spread over the tables.
    ``txn_ms > 0`` makes each traffic query run in a transaction kept open that long, the way
    a slow application holds its locks, so the migration has something to wait for.
    """

    def __init__(self, dsn: str, tables: Sequence[str] | None = None, *, rate: float = 20.0,
                 migration_pid: int | None = None, lock_timeout_s: float | None = None,
                 max_tables: int = 8, txn_ms: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 queries per second")
        self.dsn = dsn
        self.requested_tables = None if tables is None else tuple(tables)
        self.rate = float(rate)
        self.migration_pid = migration_pid
        self.lock_timeout_s = lock_timeout_s
        self.max_tables = max_tables
        self.txn_ms = float(txn_ms)
        self.tables: tuple[_Table, ...] = ()
        self.missing_tables: tuple[str, ...] = ()  # asked for but not found (not created yet...)
        self.errors: dict[str, int] = {}  # "orders write: UndefinedColumn" -> count
        self._stop = threading.Event()
        self._guard = threading.Lock()  # protects the shared records below
        self._blocked: list[_Query] = []
        self._waits: dict[tuple, _Wait] = {}
        self._first_lock: dict[tuple, str] = {}  # (pid, xact_start, relation, mode) -> statement
        self._last_noted: dict[int, str] = {}  # migration pid -> the statement it ran last
        self._workers: list[_Worker] = []
        self._threads: list[threading.Thread] = []
        self._control = None
        self._control_guard = threading.Lock()
        self._monitor_conn = None
        self._traffic_pids: frozenset[int] = frozenset()
        self._own_pids: frozenset[int] = frozenset()
        self._has_waitstart = True

    # -- lifecycle ---------------------------------------------------------------------------

    def set_migration_pid(self, pid: int) -> None:
        """Tell the probe which backend runs the migration (known once the runner connected)."""
        self.migration_pid = pid

    def __enter__(self) -> "TrafficProbe":
        try:
            self._control = self._connect("control")
            self._monitor_conn = self._connect("monitor")
            self._has_waitstart = self._control.server_version >= 140000
            self.tables = self._resolve_tables()
            for table in self.tables:
                for kind in ("read", "write"):
                    self._workers.append(_Worker(self, table, kind, self._connect(kind)))
        except BaseException:
            self._close_all()
            raise
        self._traffic_pids = frozenset(w.pid for w in self._workers)
        self._own_pids = self._traffic_pids | {self._control.get_backend_pid(),
                                               self._monitor_conn.get_backend_pid()}
        monitor = threading.Thread(target=self._monitor_loop, name="rehearse-traffic-monitor", daemon=True)
        self._threads = [monitor] + [
            threading.Thread(target=w.run, name=f"rehearse-traffic-{w.kind}-{w.table.display}", daemon=True)
            for w in self._workers]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        started = time.monotonic()
        workers = list(zip(self._workers, self._threads[1:]))
        while time.monotonic() - started < 15.0:
            alive = [(w, t) for w, t in workers if t.is_alive()]
            if not alive:
                break
            # A worker blocked behind an open transaction would never return on its own;
            # cancel its query, and if even that does not free it, end its session.
            terminate = time.monotonic() - started > 5.0
            for w, _ in alive:
                if w.busy:
                    self._signal(w, terminate=terminate)
            alive[0][1].join(timeout=0.05)
        if self._threads:
            self._threads[0].join(timeout=5.0)
        self._close_all()

    def _connect(self, role: str):
        try:
            conn = psycopg2.connect(self.dsn, connect_timeout=10)
        except psycopg2.Error as exc:
            raise InfrastructureError(
                f"the --traffic probe could not connect to {redact(self.dsn)}: {str(exc).strip().splitlines()[0]}",
                hint="check that the staging database accepts more connections (max_connections)") from exc
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('application_name', %s, false), "
                        "set_config('statement_timeout', %s, false)",
                        (f"{APP_NAME}-{role}", str(STATEMENT_TIMEOUT_MS)))
            if role == "write":
                # Belt and braces: triggers do not fire under replica role (superuser only).
                try:
                    cur.execute("SET session_replication_role = replica")
                except psycopg2.Error:
                    pass
        return conn

    def _close_all(self) -> None:
        conns = [w.conn for w in self._workers] + [self._monitor_conn, self._control]
        for conn in conns:
            if conn is not None:
                try:
                    conn.close()
                except psycopg2.Error:
                    pass

    def _signal(self, worker: "_Worker", *, terminate: bool) -> None:
        fn = "pg_terminate_backend" if terminate else "pg_cancel_backend"
        try:
            with self._control_guard, self._control.cursor() as cur:
                cur.execute(f"SELECT {fn}(%s)", (worker.pid,))
        except psycopg2.Error:
            try:
                worker.conn.cancel()  # the driver's own cancel request, thread-safe
            except psycopg2.Error:
                pass

    def _resolve_tables(self) -> tuple[_Table, ...]:
        with self._control.cursor() as cur:
            if self.requested_tables is None:
                cur.execute(
                    """SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
                         AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                         AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
                         AND c.relname <> 'alembic_version'
                       ORDER BY greatest(c.reltuples, 0) DESC, pg_total_relation_size(c.oid) DESC, c.oid
                       LIMIT %s""", (self.max_tables,))
                oids = [r[0] for r in cur.fetchall()]
                missing: list[str] = []
            else:
                oids, missing = [], []
                for name in self.requested_tables:
                    cur.execute("SELECT to_regclass(%s)::oid", (name,))
                    oid = cur.fetchone()[0]
                    if oid is None:
                        missing.append(name)
                    elif oid not in oids:
                        oids.append(oid)
                oids = oids[: self.max_tables]
            self.missing_tables = tuple(missing)
            return tuple(t for t in (_describe_table(cur, oid) for oid in oids) if t is not None)

    # -- the monitor -------------------------------------------------------------------------

    def _monitor_loop(self) -> None:
        cur = self._monitor_conn.cursor()
        waitstart = "w.waitstart" if self._has_waitstart else "NULL::timestamptz"
        waiting_sql = f"""
            SELECT w.pid, w.relation, w.mode, {waitstart}, clock_timestamp(), wa.query,
                   b.pid, b.query, b.xact_start,
                   (SELECT array_agg(bl.mode ORDER BY bl.granted DESC) FROM pg_locks bl
                     WHERE bl.pid = b.pid AND bl.locktype = 'relation' AND bl.relation = w.relation)
              FROM pg_locks w
              JOIN pg_stat_activity wa ON wa.pid = w.pid
              LEFT JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid) ON true
              LEFT JOIN pg_stat_activity b ON b.pid = bp.pid
             WHERE NOT w.granted AND w.pid = ANY(%s::int[])"""
        held_sql = """
            SELECT l.pid, a.xact_start, l.relation, l.mode, a.query
              FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.granted AND l.locktype = 'relation' AND l.relation = ANY(%s::oid[])
               AND NOT (l.pid = ANY(%s::int[]))"""
        oids = [t.oid for t in self.tables]
        own = list(self._own_pids)
        first_clock: dict[tuple, object] = {}
        while not self._stop.is_set() or any(w.busy for w in self._workers):
            polled_at = time.monotonic()
            watch = list(self._traffic_pids)
            if self.migration_pid:
                watch.append(self.migration_pid)
            try:
                if oids:
                    cur.execute(held_sql, (oids, own))
                    held = cur.fetchall()
                else:
                    held = []
                cur.execute(waiting_sql, (watch,))
                waiting = cur.fetchall()
            except psycopg2.Error:
                if self._monitor_conn.closed:
                    return
                time.sleep(POLL_S)
                continue
            with self._guard:
                for pid, xact_start, relation, mode, query in held:
                    if (query or "").lstrip().startswith(_TRACER_MARKER):
                        # Between two statements, while the tracer reads the catalog: the lock
                        # was taken by the statement that just ran, which note_statement names.
                        continue
                    self._first_lock.setdefault((pid, xact_start, relation, mode), query)
                by_waiter: dict[int, list[tuple]] = {}
                for row in waiting:
                    by_waiter.setdefault(row[0], []).append(row)
                for pid, rows in by_waiter.items():
                    if pid == self.migration_pid:
                        self._observe_migration(rows, first_clock)
                    else:
                        self._observe_traffic(pid, rows, polled_at)
            pause = max(0.0, POLL_S - (time.monotonic() - polled_at))
            # After stop, keep watching (without spinning) until the cancelled workers return.
            time.sleep(pause) if self._stop.is_set() else self._stop.wait(pause)

    def _observe_traffic(self, pid: int, rows: list[tuple], polled_at: float) -> None:
        worker = next((w for w in self._workers if w.pid == pid), None)
        current = worker.current if worker else None
        # A query that began after this poll started cannot be the one the poll saw waiting.
        if current is None or current.start > polled_at:
            return
        best = _pick_blocker(rows, self.migration_pid, self._traffic_pids)
        if best is None:
            return
        _, relation, wanted, *_rest = best
        bpid, bquery, bxact, bmodes = best[6], best[7], best[8], best[9] or []
        mode = _strongest_conflicting(bmodes, wanted)
        if not current.seen:
            self._blocked.append(current)
        current.seen.append((bpid, bxact, relation, bquery, mode))

    def _observe_migration(self, rows: list[tuple], first_clock: dict) -> None:
        pid, relation, mode, waitstart, now, query = rows[0][:6]
        key = (pid, relation, mode, waitstart if waitstart is not None else query)
        start = waitstart if waitstart is not None else first_clock.setdefault(key, now)
        waited = max(0.0, (now - start).total_seconds())
        wait = self._waits.get(key)
        if wait is None:
            wait = self._waits[key] = _Wait(statement=query, waited_s=waited)
        wait.waited_s = max(wait.waited_s, waited)
        wait.blockers.update(r[6] for r in rows if r[6] is not None)

    # -- results -----------------------------------------------------------------------------

    def blocked(self) -> tuple[model.BlockedTraffic, ...]:
        """Traffic that waited, one entry per (table, kind, blocker statement, lock mode)."""
        now = time.monotonic()
        groups: dict[tuple, list[float]] = {}
        with self._guard:
            for q in self._blocked:
                bpid, bxact, relation, bquery, mode = q.seen[-1]
                statement = (self._first_lock.get((bpid, bxact, relation, mode))
                             or next((sql for (p, x, r, _), sql in self._first_lock.items()
                                      if (p, x, r) == (bpid, bxact, relation)), None)
                             or bquery or "")
                if statement.lstrip().startswith(_TRACER_MARKER):
                    # caught between statements, while the tracer read the catalog: not the culprit
                    statement = self._last_noted.get(bpid, "")
                statement = _pick_statement(statement, q.table) if statement else None
                waited = (q.end if q.end is not None else now) - q.start
                groups.setdefault((q.table, q.kind, statement, mode), []).append(waited)
        out = [model.BlockedTraffic(table=table, kind=kind, blocked_s=round(max(w), 3),
                                    total_blocked_s=round(sum(w), 3), queries=len(w),
                                    blocker_statement=stmt, blocker_lock_mode=mode)
               for (table, kind, stmt, mode), w in groups.items()]
        return tuple(sorted(out, key=lambda b: (-b.blocked_s, b.table, b.kind)))

    def lock_waits(self) -> dict[str, float]:
        """Migration statement -> seconds it waited for locks (summed over its waits)."""
        totals: dict[str, float] = {}
        with self._guard:
            for wait in self._waits.values():
                totals[wait.statement] = round(totals.get(wait.statement, 0.0) + wait.waited_s, 3)
        return totals

    def would_fail(self) -> tuple[str, ...]:
        """Statements with one lock wait longer than ``lock_timeout_s``: they would have failed."""
        if self.lock_timeout_s is None:
            return ()
        seen: list[str] = []
        with self._guard:
            for wait in self._waits.values():
                if wait.waited_s > self.lock_timeout_s and wait.statement not in seen:
                    seen.append(wait.statement)
        return tuple(seen)

    def reset(self) -> None:
        """Forget what was measured so far (one probe kept running across several revisions)."""
        with self._guard:
            self._blocked = [q for q in self._blocked if q.end is None]  # still waiting: keep
            self._waits.clear()

    def queries_sent(self) -> dict[str, int]:
        """How many reads and writes the workload sent so far (to show it really ran)."""
        sent = {"read": 0, "write": 0}
        for w in self._workers:
            sent[w.kind] += w.sent
        return sent

    def note_statement(self, sql: str, pid: int | None = None) -> None:
        """Optional hook for the runner: call after each migration statement has run.

        The monitor polls every ~50 ms, so a fast ``ALTER TABLE`` followed by a long
        ``UPDATE`` in the same transaction would otherwise be blamed on the UPDATE. This
        snapshots the locks the migration backend holds right now and credits new ones to
        ``sql``.
        """
        pid = pid or self.migration_pid
        if pid is None or self._control is None or not self.tables:
            return
        with self._control_guard, self._control.cursor() as cur:
            cur.execute("""SELECT l.pid, a.xact_start, l.relation, l.mode
                             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                            WHERE l.granted AND l.locktype = 'relation' AND l.pid = %s
                              AND l.relation = ANY(%s::oid[])""", (pid, [t.oid for t in self.tables]))
            rows = cur.fetchall()
        with self._guard:
            self._last_noted[pid] = sql
            for row in rows:
                known = self._first_lock.get(tuple(row))
                if known is None or known.lstrip().startswith(_TRACER_MARKER):
                    self._first_lock[tuple(row)] = sql


def _strongest_conflicting(modes: list[str], wanted: str) -> str | None:
    """The blocker's lock mode to name: the strongest it holds that conflicts with the request."""
    known = [m for m in modes if m in _CONFLICTS]
    clashing = [m for m in known if wanted in _CONFLICTS and conflicts(m, wanted)]
    pool = clashing or known or modes
    return max(pool, key=lambda m: LOCK_MODES.index(m) if m in LOCK_MODES else -1) if pool else None


def _pick_blocker(rows: list[tuple], migration_pid: int | None, traffic: frozenset[int]) -> tuple | None:
    """Of the backends blocking one waiter, the one to blame: the migration, else any outsider."""
    outsiders = [r for r in rows if r[6] is not None and r[6] not in traffic]
    for row in outsiders:
        if row[6] == migration_pid:
            return row
    return outsiders[0] if outsiders else None


def _describe_table(cur, oid: int) -> _Table | None:
    cur.execute(
        """SELECT format('%%I.%%I', n.nspname, c.relname), n.nspname, c.relname,
                  (SELECT quote_ident(a.attname) FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                      AND a.attgenerated = '' AND a.attidentity <> 'a'
                    ORDER BY a.attnum LIMIT 1)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s""", (oid,))
    row = cur.fetchone()
    if row is None:
        return None
    qualified, schema, name, column = row
    display = name if schema == "public" else f"{schema}.{name}"
    return _Table(oid=oid, qualified=qualified, display=display, column=column)


class _Worker:
    """One connection sending one kind of query to one table at rate / tables per second."""

    def __init__(self, probe: TrafficProbe, table: _Table, kind: str, conn) -> None:
        self.probe, self.table, self.kind, self.conn = probe, table, kind, conn
        self.pid = conn.get_backend_pid()
        self.current: _Query | None = None
        self.busy = False  # a statement is in flight (exit must cancel it)
        self.interval = max(1, len(probe.tables)) / probe.rate
        self._n = 0
        self.sent = 0  # statements that completed (ok or not)

    def _sql(self) -> str:
        t = self.table
        if self.kind == "read":
            self._n += 1
            if self._n % 2:
                return f"SELECT * FROM {t.qualified} LIMIT 1"
            return f"SELECT count(*) FROM (SELECT 1 FROM {t.qualified} LIMIT 100) AS s"
        if t.column is None:
            return f"DELETE FROM {t.qualified} WHERE false"
        return f"UPDATE {t.qualified} SET {t.column} = {t.column} WHERE false"

    def run(self) -> None:
        stop, probe = self.probe._stop, self.probe
        # Spread the workers' first queries so they do not arrive in bursts.
        next_at = time.monotonic() + random.uniform(0, self.interval)
        in_txn = self.kind == "write" or probe.txn_ms > 0
        while not stop.wait(max(0.0, next_at - time.monotonic())):
            next_at = max(next_at + self.interval, time.monotonic())
            sql = self._sql()
            cur = self.conn.cursor()
            try:
                if in_txn:
                    self.busy = True
                    cur.execute("BEGIN")
                self.current = _Query(table=self.table.display, kind=self.kind, start=time.monotonic())
                self.busy = True
                try:
                    cur.execute(sql)
                    cur.fetchall() if cur.description else None
                finally:
                    self.current.end = time.monotonic()
                    self.sent += 1
                if probe.txn_ms > 0:
                    stop.wait(probe.txn_ms / 1000.0)  # hold the locks like a slow request would
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                if isinstance(exc, psycopg2.extensions.QueryCanceledError) and not self.conn.closed:
                    self._note_error(exc)
                elif self.conn.closed or stop.is_set():
                    return
                else:
                    self._note_error(exc)
            except psycopg2.Error as exc:
                self._note_error(exc)
            finally:
                try:
                    if in_txn and not self.conn.closed:
                        self.conn.cursor().execute("ROLLBACK")  # nothing a worker does may persist
                except psycopg2.Error:
                    pass
                self.busy = False
                cur.close()

    def _note_error(self, exc: psycopg2.Error) -> None:
        if self.probe._stop.is_set():
            return  # cancelled at exit: expected
        key = f"{self.table.display} {self.kind}: {type(exc).__name__}"
        with self.probe._guard:
            self.probe.errors[key] = self.probe.errors.get(key, 0) + 1
        # The migration may have renamed the table or dropped the column: look them up again.
        try:
            with self.conn.cursor() as cur:
                cur.execute("ROLLBACK")
                fresh = _describe_table(cur, self.table.oid)
            if fresh is not None:
                self.table = fresh
        except psycopg2.Error:
            pass
