"""The parent's side of statement tracing: the child's records as model objects, and the
outside lock watcher.

The tracing itself runs in the child process (``rehearse/migrate/child.py``), on the
migration's own connection: locks its backend holds after each statement, ``relfilenode``
comparisons for rewrites, catalog diffs. Statements outside a transaction (an autocommit
block, CREATE INDEX CONCURRENTLY) release their locks before they return, so the child asks
the parent to watch that backend's locks from a connection of its own while they run
(:class:`_LockSampler`, psycopg2: the child must not depend on a driver the project lacks).
"""

from __future__ import annotations

import re
import threading

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

# Read by the lock sampler from a session of its own, while the migration holds the locks: so
# nothing here may take a lock on the relations. pg_total_relation_size opens the relation
# (ACCESS SHARE), which waits behind the migration's ACCESS EXCLUSIVE until its transaction ends;
# the size is added up from pg_class instead (the heap, its TOAST table and its indexes, as of the
# last VACUUM, ANALYZE or index build: the restore analyzes every table).
_LOCKS_SQL = """
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text, l.mode,
       greatest(c.reltuples, 0)::bigint,
       (greatest(c.relpages, 0)
        + coalesce((SELECT greatest(t.relpages, 0) FROM pg_class t WHERE t.oid = c.reltoastrelid), 0)
        + coalesce((SELECT sum(greatest(i.relpages, 0)) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                    WHERE x.indrelid = c.oid), 0))::bigint * current_setting('block_size')::bigint
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = pg_backend_pid() AND l.granted AND l.locktype = 'relation'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 'S', 'v')
"""


def lock_blocks(mode: str) -> tuple[bool, bool]:
    """(blocks reads, blocks writes) of normal traffic for a relation lock mode."""
    return mode in _BLOCKS_READS, mode in _BLOCKS_WRITES


def statements_from_child(items: list[dict]) -> tuple[StatementTrace, ...]:
    """The child's plain statement records as the model's StatementTrace."""
    traces = []
    for s in items:
        locks = []
        for lock in s.get("locks") or ():
            reads, writes = lock_blocks(lock["mode"])
            locks.append(LockTaken(relation=lock["relation"], mode=lock["mode"], blocks_reads=reads,
                                   blocks_writes=writes, held_s=lock.get("held_s"), rows=lock.get("rows"),
                                   bytes=lock.get("bytes")))
        traces.append(StatementTrace(
            sql=s["sql"], duration_s=float(s.get("duration_s") or 0.0), ok=bool(s.get("ok", True)),
            error=s.get("error"), in_transaction=bool(s.get("in_transaction", True)), locks=tuple(locks),
            rewrites=tuple(s.get("rewrites") or ()), catalog_changes=tuple(s.get("catalog_changes") or ()),
            location=s.get("location"), rows_affected=s.get("rows_affected"), probes=s.get("probes") or {}))
    return tuple(traces)


class StepTrace:
    """What one step's statements tell the rest of the rehearsal (the child did the tracing)."""

    def __init__(self, statements: tuple[StatementTrace, ...]) -> None:
        self.statements = statements

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
            # and never waits for long whatever happens: the migration waits for it to stop
            conn = psycopg2.connect(self.dsn, application_name="rehearse lock sampler",
                                    options="-c lock_timeout=100 -c statement_timeout=2000")
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


TRACE_MARKER = "/* rehearse:trace */"  # lets the traffic probe tell our catalog queries from the migration's
