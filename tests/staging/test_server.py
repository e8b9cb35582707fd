"""The server backend: a marked scratch database on an existing server, dropped afterwards."""

from __future__ import annotations

import uuid

import psycopg2
import pytest

from rehearse import model
from rehearse.staging import NotOwnedDatabase, assert_owned, open_staging

from .conftest import SERVER_URL, admin_execute


def _exists(name: str) -> bool:
    return bool(admin_execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)))


def test_scratch_database_is_created_marked_and_dropped(source_info):
    run_id = "t" + uuid.uuid4().hex[:10]
    with open_staging(SERVER_URL, run_id=run_id, source=source_info) as db:
        assert db.kind == "server"
        assert db.database == f"rehearse_{run_id}"
        assert db.url.startswith("postgresql+psycopg2://")
        assert _exists(db.database)
        comment = admin_execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                "WHERE datname = %s", (db.database,))[0][0]
        assert comment.startswith(f"rehearse:{run_id}:")
        assert_owned(db)
        conn = psycopg2.connect(db.dsn)
        with conn.cursor() as cur:
            cur.execute("SHOW work_mem")
            assert cur.fetchone()[0] == "7MB"
            cur.execute("SELECT extname FROM pg_extension")
            assert "pg_trgm" in {r[0] for r in cur.fetchall()}
        conn.close()
    assert not _exists(db.database)


def test_marker_check_refuses_database_without_marker(foreign_db):
    name, dsn = foreign_db
    db = model.StagingDatabase(kind="server", url="postgresql+psycopg2://postgres@127.0.0.1:5432/" + name,
                               dsn=dsn, database=name, server_version="15", server_version_num=150000,
                               run_id="whatever")
    with pytest.raises(NotOwnedDatabase):
        assert_owned(db)
    # another run's marker does not count either
    admin_execute(f'COMMENT ON DATABASE "{name}" IS %s', ("rehearse:otherrun:1:host",))
    with pytest.raises(NotOwnedDatabase):
        assert_owned(db)


def test_scratch_database_dropped_on_exception_even_with_open_connection():
    run_id = "t" + uuid.uuid4().hex[:10]
    with pytest.raises(ZeroDivisionError):
        with open_staging(SERVER_URL, run_id=run_id) as db:
            leaked = psycopg2.connect(db.dsn)  # a connection the pipeline forgot to close
            1 / 0
    assert not _exists(f"rehearse_{run_id}")
    leaked.close()


def test_server_reuse_uses_template_database():
    key = uuid.uuid4().hex
    tpl = f"rehearse_tpl_{key[:32]}"

    def populate(db):
        conn = psycopg2.connect(db.dsn)
        conn.autocommit = True
        conn.cursor().execute("CREATE TABLE items AS SELECT generate_series(1, 300) AS id")
        conn.close()

    try:
        with open_staging(SERVER_URL, run_id="t" + uuid.uuid4().hex[:10], populate=populate, reuse_key=key) as a:
            assert not a.from_template
        assert _exists(tpl)
        with open_staging(SERVER_URL, run_id="t" + uuid.uuid4().hex[:10], populate=None, reuse_key=key) as b:
            assert b.from_template
            assert_owned(b)
            conn = psycopg2.connect(b.dsn)
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM items")
                assert cur.fetchone()[0] == 300
            conn.close()
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{tpl}" WITH (FORCE)')
