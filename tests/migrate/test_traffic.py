"""The --traffic probe against a real PostgreSQL: who gets blocked, by what, for how long.

Each test opens a second connection that plays the migration. Waits are measured, never
asserted against our own speed: the lock holders sleep 1-1.5 s and the checks ask for a
fraction of that.
"""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg2
import pytest

from rehearse import model
from rehearse.migrate.traffic import TrafficProbe, conflicts, describe, lock_conflicts, normalize_mode
from rehearse.migrate.traffic import _pick_statement


def _connect(dsn):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


@pytest.fixture()
def db(source_db):
    """A database with a small table t(a, b) and an empty side table; yields its dsn."""
    _, _, dsn = source_db
    with contextlib.closing(_connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (a int PRIMARY KEY, b text)")
        cur.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 500) g")
        cur.execute("CREATE TABLE side (id int)")
        cur.execute("ANALYZE")
    yield dsn


def _fingerprint(dsn, table="t"):
    with contextlib.closing(_connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM {table} x")
        return cur.fetchone()


def _warm_up(probe, timeout=5.0, queries=2):
    """Wait until both kinds of traffic have really reached the server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent = probe.queries_sent()
        if sent["read"] >= queries and sent["write"] >= queries:
            return
        time.sleep(0.02)
    raise AssertionError(f"traffic did not start: {probe.queries_sent()} errors={probe.errors}")


def _by_kind(blocked, table="t"):
    return {b.kind: b for b in blocked if b.table == table}


# --- pure helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode, reads, writes", [
    ("AccessShareLock", False, False),
    ("RowShareLock", False, False),
    ("RowExclusiveLock", False, False),
    ("ShareUpdateExclusiveLock", False, False),
    ("ShareLock", False, True),
    ("ShareRowExclusiveLock", False, True),
    ("ExclusiveLock", False, True),
    ("AccessExclusiveLock", True, True),
    ("ACCESS EXCLUSIVE", True, True),
    ("share", False, True),
    ("SIReadLock", False, False),
])
def test_lock_conflicts_follows_postgresql_table(mode, reads, writes):
    assert lock_conflicts(mode) == {"blocks_reads": reads, "blocks_writes": writes}


def test_conflict_matrix_is_symmetric_and_rejects_unknown_modes():
    modes = ["AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
             "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]
    for a in modes:
        for b in modes:
            assert conflicts(a, b) == conflicts(b, a), (a, b)
    assert not conflicts("ShareLock", "ShareLock")
    assert conflicts("ShareUpdateExclusiveLock", "ShareUpdateExclusiveLock")
    assert normalize_mode("row exclusive") == "RowExclusiveLock"
    with pytest.raises(ValueError):
        lock_conflicts("NoSuchLock")


def test_describe_reads_like_the_report():
    b = model.BlockedTraffic(table="orders", kind="write", blocked_s=41.23, total_blocked_s=41.23, queries=1,
                             blocker_statement="ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2)",
                             blocker_lock_mode="AccessExclusiveLock")
    assert describe(b) == ("writes to orders blocked 41.2 s by ALTER TABLE orders ALTER COLUMN total "
                           "TYPE numeric(12, 2) (AccessExclusiveLock)")
    many = model.BlockedTraffic(table="orders", kind="read", blocked_s=2.0, total_blocked_s=5.5, queries=4,
                                blocker_statement="x " * 100, blocker_lock_mode="AccessExclusiveLock")
    assert describe(many).endswith("... (AccessExclusiveLock); 4 queries waited 5.5 s in all")


def test_pick_statement_finds_the_one_naming_the_table():
    q = "BEGIN; ALTER TABLE t ADD COLUMN x int; SELECT pg_sleep(1.5); COMMIT"
    assert _pick_statement(q, "t") == "ALTER TABLE t ADD COLUMN x int"
    assert _pick_statement("ALTER TABLE t ADD COLUMN x int", "t") == "ALTER TABLE t ADD COLUMN x int"
    assert _pick_statement("SELECT pg_sleep(1)", "t") == "SELECT pg_sleep(1)"


# --- against PostgreSQL ----------------------------------------------------------------------


def test_alter_table_blocks_reads_and_writes(db):
    before = _fingerprint(db)
    other = _connect(db)
    try:
        with TrafficProbe(db, ["t"], rate=40) as probe:
            _warm_up(probe)
            with other.cursor() as cur:
                cur.execute("BEGIN; ALTER TABLE t ADD COLUMN x int; SELECT pg_sleep(1.5); COMMIT")
            time.sleep(0.2)
        blocked = probe.blocked()
    finally:
        other.close()
    kinds = _by_kind(blocked)
    assert set(kinds) == {"read", "write"}, blocked
    for b in kinds.values():
        assert b.blocker_statement == "ALTER TABLE t ADD COLUMN x int"
        assert b.blocker_lock_mode == "AccessExclusiveLock"
        assert b.blocked_s > 0.5
        assert b.total_blocked_s >= b.blocked_s and b.queries >= 1
    assert "reads to t blocked" in describe(kinds["read"])
    assert probe.errors == {}
    count, checksum = _fingerprint(db)
    assert (count, checksum) != before  # the ALTER added a column ...
    with contextlib.closing(_connect(db)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM t WHERE x IS NOT NULL")
        assert cur.fetchone()[0] == 0  # ... and the traffic wrote nothing into it
    assert count == before[0]


def test_create_index_blocks_writes_not_reads_and_note_statement_names_it(db):
    other = _connect(db)
    try:
        with TrafficProbe(db, ["t"], rate=40) as probe:
            _warm_up(probe)
            probe.set_migration_pid(other.get_backend_pid())
            with other.cursor() as cur:
                # Separate statements, as Alembic sends them: the lock outlives the statement.
                cur.execute("BEGIN")
                cur.execute("CREATE INDEX ix_t_b ON t (b)")
                probe.note_statement("CREATE INDEX ix_t_b ON t (b)")
                cur.execute("SELECT pg_sleep(1)")
                cur.execute("COMMIT")
            time.sleep(0.2)
            sent_reads = probe.queries_sent()["read"]
        blocked = probe.blocked()
    finally:
        other.close()
    kinds = _by_kind(blocked)
    assert set(kinds) == {"write"}, blocked
    assert kinds["write"].blocker_lock_mode == "ShareLock"
    assert kinds["write"].blocker_statement == "CREATE INDEX ix_t_b ON t (b)"
    assert kinds["write"].blocked_s > 0.3
    assert sent_reads >= 10  # reads kept flowing while writes waited
    probe.reset()
    assert probe.blocked() == ()


def test_lock_seen_while_the_tracer_reads_the_catalog_is_credited_to_the_statement_before(db):
    """After each statement the tracer reads the catalog on the migration's connection; a busy
    machine can make that last several monitor polls. The lock the ALTER took must still be
    blamed on the ALTER, not on whatever statement the revision ran last (issue #17)."""
    other = _connect(db)
    alter = "ALTER TABLE t ADD COLUMN c int"
    try:
        with TrafficProbe(db, ["t"], rate=40) as probe:
            _warm_up(probe)
            probe.set_migration_pid(other.get_backend_pid())
            with other.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute(alter)
                # the tracer's catalog reads, slowed down the way a loaded machine slows them
                cur.execute("/* rehearse:trace */ SELECT pg_sleep(0.4)")
                probe.note_statement(alter)
                cur.execute("SELECT pg_sleep(1)")
                probe.note_statement("SELECT pg_sleep(1)")
                cur.execute("ROLLBACK")
            time.sleep(0.2)
        blocked = probe.blocked()
    finally:
        other.close()
    kinds = _by_kind(blocked)
    assert set(kinds) == {"read", "write"}, blocked
    for b in kinds.values():
        assert b.blocker_statement == alter, blocked
        assert b.blocker_lock_mode == "AccessExclusiveLock"


def test_lock_that_conflicts_with_nothing_reports_nothing(db):
    other = _connect(db)
    try:
        with TrafficProbe(db, ["t"], rate=40) as probe:
            _warm_up(probe)
            start = probe.queries_sent()
            with other.cursor() as cur:
                # SET (storage parameter) takes ShareUpdateExclusiveLock: reads and writes go on.
                cur.execute("BEGIN; ALTER TABLE t SET (fillfactor = 90); SELECT pg_sleep(1); COMMIT")
            end = probe.queries_sent()
    finally:
        other.close()
    assert probe.blocked() == ()
    assert end["read"] - start["read"] >= 10 and end["write"] - start["write"] >= 10


def test_exit_cancels_queries_blocked_by_an_open_transaction(db):
    holder = _connect(db)
    holder.cursor().execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    done = threading.Event()
    result = {}

    def run():
        with TrafficProbe(db, ["t"], rate=40) as probe:
            time.sleep(1.0)
        result["blocked"] = probe.blocked()
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    try:
        thread.start()
        assert done.wait(20), "the probe hung on exit behind a lock"
    finally:
        holder.cursor().execute("ROLLBACK")
        holder.close()
    kinds = _by_kind(result["blocked"])
    assert set(kinds) == {"read", "write"}
    assert all(b.blocker_lock_mode == "AccessExclusiveLock" for b in kinds.values())
    assert all("LOCK TABLE t" in b.blocker_statement for b in kinds.values())
    with contextlib.closing(_connect(db)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'rehearse-traffic%'")
        assert cur.fetchone()[0] == 0  # every probe connection is gone


def test_traffic_never_changes_data_even_with_statement_triggers(db):
    with contextlib.closing(_connect(db)) as conn, conn.cursor() as cur:
        cur.execute("""CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN INSERT INTO side VALUES (1); RETURN NULL; END $$""")
        cur.execute("CREATE TRIGGER t_audit AFTER UPDATE OR DELETE ON t FOR EACH STATEMENT EXECUTE FUNCTION audit()")
        cur.execute("ALTER TABLE t ENABLE ALWAYS TRIGGER t_audit")  # fires even under replica role
    before, side_before = _fingerprint(db), _fingerprint(db, "side")
    with TrafficProbe(db, ["t", "side"], rate=60, txn_ms=20) as probe:
        _warm_up(probe)
        time.sleep(0.5)
    assert probe.queries_sent()["write"] >= 5
    assert _fingerprint(db) == before
    assert _fingerprint(db, "side") == side_before


def test_default_tables_are_the_largest(db):
    with contextlib.closing(_connect(db)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        cur.execute("CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 5000) g")
        cur.execute("ANALYZE")
    with TrafficProbe(db, max_tables=2) as probe:
        names = [t.display for t in probe.tables]
    assert names == ["big", "t"]
    with TrafficProbe(db, ["t", "not_yet_created"]) as probe:
        assert [t.display for t in probe.tables] == ["t"]
        assert probe.missing_tables == ("not_yet_created",)


def test_migration_waiting_on_traffic_would_fail_lock_timeout(db):
    migration = _connect(db)
    try:
        with TrafficProbe(db, ["t"], rate=20, txn_ms=1500, lock_timeout_s=0.5,
                          migration_pid=migration.get_backend_pid()) as probe:
            _warm_up(probe, timeout=10, queries=1)
            # Start right after a traffic transaction began, so it holds its lock ~1.5 s more.
            with contextlib.closing(_connect(db)) as watch, watch.cursor() as cur:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    cur.execute("""SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
                                   WHERE a.application_name LIKE 'rehearse-traffic-%%' AND l.granted
                                     AND l.relation = 't'::regclass
                                     AND clock_timestamp() - a.xact_start < interval '200 ms'""")
                    if cur.fetchone()[0]:
                        break
                    time.sleep(0.01)
            with migration.cursor() as cur:
                cur.execute("ALTER TABLE t ADD COLUMN y int")
            time.sleep(0.1)
        waits = probe.lock_waits()
        failing = probe.would_fail()
    finally:
        migration.close()
    assert failing == ("ALTER TABLE t ADD COLUMN y int",)
    assert waits["ALTER TABLE t ADD COLUMN y int"] > 0.5


def test_traffic_queued_behind_a_waiting_alter_is_blamed_on_the_alter(db):
    """The classic outage: ALTER waits for a long transaction, and every query queues behind it."""
    holder, migration = _connect(db), _connect(db)
    holder.cursor().execute("BEGIN; SELECT * FROM t LIMIT 1")  # a slow request holding AccessShareLock
    try:
        with TrafficProbe(db, ["t"], rate=40, lock_timeout_s=0.3,
                          migration_pid=migration.get_backend_pid()) as probe:
            _warm_up(probe)
            alter = threading.Thread(target=lambda: migration.cursor().execute("ALTER TABLE t ADD COLUMN z int"))
            alter.start()
            time.sleep(1.0)
            holder.cursor().execute("COMMIT")
            alter.join(10)
            time.sleep(0.1)
    finally:
        holder.close()
        migration.close()
    kinds = _by_kind(probe.blocked())
    assert set(kinds) == {"read", "write"}, probe.blocked()
    for b in kinds.values():
        assert b.blocker_statement == "ALTER TABLE t ADD COLUMN z int"
        assert b.blocker_lock_mode == "AccessExclusiveLock"  # requested, still waiting
        assert b.blocked_s > 0.3
    assert probe.lock_waits()["ALTER TABLE t ADD COLUMN z int"] > 0.5
    assert probe.would_fail() == ("ALTER TABLE t ADD COLUMN z int",)


def test_short_waits_stay_under_lock_timeout(db):
    migration = _connect(db)
    try:
        with TrafficProbe(db, ["t"], rate=20, lock_timeout_s=5.0,
                          migration_pid=migration.get_backend_pid()) as probe:
            _warm_up(probe)
            with migration.cursor() as cur:
                cur.execute("ALTER TABLE t ADD COLUMN y int")
    finally:
        migration.close()
    assert probe.would_fail() == ()
