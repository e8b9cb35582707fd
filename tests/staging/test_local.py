"""The local backend: a throwaway cluster that runs as postgres and mirrors production's setup."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy

from rehearse import errors, model
from rehearse.staging import NotOwnedDatabase, assert_owned, open_staging


def _rid() -> str:
    return "t" + uuid.uuid4().hex[:10]


def _one(dsn: str, query: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchone()[0] if cur.description and cur.rowcount == 1 else cur.fetchall()
    finally:
        conn.close()


def test_local_cluster_runs_as_postgres_same_major_and_mirrors_source(source_info):
    with open_staging("local", run_id=_rid(), source=source_info) as db:
        assert db.kind == "local"
        assert db.url.startswith("postgresql+psycopg2://postgres@/app?host=/")
        assert db.major == source_info.major
        assert not db.warnings, db.warnings
        # the server process belongs to the postgres OS user, not root
        pid = int(_one(db.dsn, "SELECT pg_backend_pid()"))
        assert os.stat(f"/proc/{pid}").st_uid != 0 or os.geteuid() != 0
        assert _one(db.dsn, "SHOW work_mem") == "7MB"
        assert _one(db.dsn, "SHOW TimeZone") == "Asia/Tokyo"
        assert _one(db.dsn, "SHOW lock_timeout") == "3s"
        assert _one(db.dsn, "SHOW maintenance_work_mem") == "96MB"
        # staging keeps its own throwaway durability and memory settings
        assert _one(db.dsn, "SHOW fsync") == "off"
        assert _one(db.dsn, "SHOW shared_buffers") != "8GB"
        exts = {r[0] for r in _one(db.dsn, "SELECT extname FROM pg_extension")}
        assert {"pg_trgm", "hstore"} <= exts
        roles = {r[0] for r in _one(db.dsn, "SELECT rolname FROM pg_roles")}
        assert {"app_owner", "app_reader"} <= roles
        # ownership restores onto the created role
        _one(db.dsn, "CREATE TABLE t(id int); ALTER TABLE t OWNER TO app_owner; SELECT 1")
        assert _one(db.dsn, "SELECT tableowner FROM pg_tables WHERE tablename = 't'") == "app_owner"
        # the URL works through SQLAlchemy with psycopg2
        engine = sqlalchemy.create_engine(db.url)
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT current_database()")).scalar() == "app"
        engine.dispose()
        assert_owned(db)
        datadir = Path(db.dsn.split("host=")[1].split()[0])
        assert datadir.exists()
    assert not datadir.exists()


def test_unavailable_extension_and_other_major_are_warned():
    src = model.SourceInfo(url="x", database="app", server_version="11.22", server_version_num=110022,
                           extensions=("no_such_extension_xyz",))
    with open_staging("local", run_id=_rid(), source=src) as db:
        text = " ".join(db.warnings)
        assert "no_such_extension_xyz" in text
        assert "11" in text and str(db.major) in text


def test_teardown_on_exception():
    with pytest.raises(RuntimeError):
        with open_staging("local", run_id=_rid()) as db:
            sockdir = Path(db.dsn.split("host=")[1].split()[0])
            raise RuntimeError("migration blew up")
    assert not sockdir.exists()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(db.dsn, connect_timeout=2)


def test_populate_failure_tears_down():
    seen = {}

    def populate(db):
        seen["dir"] = Path(db.dsn.split("host=")[1].split()[0])
        raise errors.SnapshotError("bad snapshot")

    with pytest.raises(errors.SnapshotError):
        with open_staging("local", run_id=_rid(), populate=populate):
            pass
    assert not seen["dir"].exists()


def test_keep_leaves_cluster_running_until_gc_kept():
    from rehearse.staging import gc

    with open_staging("local", run_id=_rid(), keep=True) as db:
        pass
    try:
        assert _one(db.dsn, "SELECT 1") == 1
        assert "psql" in open_hint(db)
    finally:
        # the owner (this process) is alive: gc must not touch it even with include_kept
        gc.collect(quiet=True, include_kept=True, docker=False)
    assert _one(db.dsn, "SELECT 1") == 1
    _cleanup_kept(db)


def open_hint(db):
    from rehearse.staging import registry

    recs = [r for _, r in registry.records() if r["run_id"] == db.run_id]
    return recs[0]["hint"]


def _cleanup_kept(db):
    from rehearse.staging import gc, registry

    for path, rec in registry.records():
        if rec["run_id"] == db.run_id:
            for res in rec["resources"]:
                gc.remove_resource(res)
            path.unlink()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(db.dsn, connect_timeout=2)


def test_reuse_clones_template_and_skips_populate():
    key = uuid.uuid4().hex
    calls = []

    def populate(db):
        calls.append(db.run_id)
        conn = psycopg2.connect(db.dsn)
        conn.autocommit = True
        conn.cursor().execute("CREATE TABLE items(id int); INSERT INTO items SELECT generate_series(1, 500)")
        conn.close()

    with open_staging("local", run_id=_rid(), populate=populate, reuse_key=key) as first:
        assert not first.from_template
        assert _one(first.dsn, "SELECT count(*) FROM items") == 500
        _one(first.dsn, "INSERT INTO items VALUES (0); SELECT 1")  # changes after populate stay out of the template
    with open_staging("local", run_id=_rid(), populate=populate, reuse_key=key) as second:
        assert second.from_template
        assert _one(second.dsn, "SELECT count(*) FROM items") == 500
        assert_owned(second)
    assert len(calls) == 1


def test_assert_owned_refuses_foreign_database(foreign_db):
    name, dsn = foreign_db
    foreign = model.StagingDatabase(kind="server", url="postgresql+psycopg2://postgres@127.0.0.1/" + name, dsn=dsn, database=name, server_version="15",
                                    server_version_num=150000, run_id="someone_else")
    with pytest.raises(NotOwnedDatabase):
        assert_owned(foreign)


def test_unknown_spec_is_bad_input():
    with pytest.raises(errors.BadInput):
        with open_staging("kubernetes", run_id=_rid()):
            pass


def test_same_run_id_twice_gets_separate_resources():
    rid = _rid()
    with open_staging("local", run_id=rid) as a, open_staging("local", run_id=rid) as b:
        assert a.run_id != b.run_id
        assert a.dsn != b.dsn
        assert_owned(a)
        assert_owned(b)


def test_small_expected_restore_runs_in_memory_large_on_disk(monkeypatch):
    from rehearse.staging.cluster import _memory_room

    monkeypatch.delenv("REHEARSE_RUN_DIR", raising=False)
    if not _memory_room(1 << 20):
        pytest.skip("not enough free memory in /dev/shm for an in-memory cluster")
    with open_staging("local", run_id=_rid(), expected_bytes=1 << 20) as db:
        assert "host=/dev/shm/" in db.dsn
    with open_staging("local", run_id=_rid(), expected_bytes=1 << 50) as db:
        assert "host=/tmp/" in db.dsn
    with open_staging("local", run_id=_rid()) as db:
        assert "host=/tmp/" in db.dsn
