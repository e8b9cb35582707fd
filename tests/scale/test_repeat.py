"""--scale runs each subset's upgrade several times, each on a fresh copy of the one restore, and
fits each statement's fastest run: a busy moment only ever slows a run down."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg2

from rehearse.config import RunConfig
from rehearse.model import StatementTrace
from rehearse.pipeline.scale import _same_database_settings, fastest, repeated_upgrades
from rehearse.staging import open_staging

CLEAN = Path(__file__).resolve().parent.parent / "projects" / "clean" / "alembic.ini"


def _t(sql: str, secs: float, ok: bool = True) -> StatementTrace:
    return StatementTrace(sql=sql, duration_s=secs, ok=ok)


def test_the_fastest_successful_run_of_each_statement_is_kept():
    runs = [{"r1": (_t("CREATE INDEX a", 0.9), _t("UPDATE t SET x = 1", 3.0))},
            {"r1": (_t("CREATE INDEX a", 0.7), _t("UPDATE t SET x = 1", 4.0))},
            {"r1": (_t("CREATE INDEX a", 0.5, ok=False), _t("UPDATE t SET x = 1", 3.5))}]
    (index, update), = fastest(runs).values()
    assert index.duration_s == 0.7 and index.ok  # the failed 0.5 s run is not a measurement
    assert update.duration_s == 3.0


def _dbs(cur, like: str) -> set[str]:
    cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (like,))
    return {r[0] for r in cur.fetchall()}


def test_each_run_is_on_a_copy_with_the_subsets_settings_and_none_is_left_behind():
    with open_staging("local", run_id="scale-rep-" + uuid.uuid4().hex[:8]) as db:
        admin = psycopg2.connect(db.dsn.replace(f"dbname={db.database}", "dbname=postgres"))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{db.database}" SET maintenance_work_mem = \'3276kB\'')
            # the settings and the ownership marker go to a copy, which a template copy alone does not do
            cur.execute(f'CREATE DATABASE "{db.database}_probe" TEMPLATE "{db.database}"')
            _same_database_settings(cur, db.database, f"{db.database}_probe")
            cur.execute("SELECT s.setconfig, shobj_description(d.oid, 'pg_database') FROM pg_database d "
                        "JOIN pg_db_role_setting s ON s.setdatabase = d.oid WHERE d.datname = %s",
                        (f"{db.database}_probe",))
            config, comment = cur.fetchone()
            cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                        (db.database,))
            assert config == ["maintenance_work_mem=3276kB"] and comment == cur.fetchone()[0] and comment
            cur.execute(f'DROP DATABASE "{db.database}_probe"')

        cfg = RunConfig.model_construct(alembic_ini=CLEAN)  # what the upgrade reads (no snapshot needed)
        statements, problems, note = repeated_upgrades(cfg, db, print, 3)
        assert problems == [] and note is None
        assert list(statements) == ["clean01", "clean02", "clean03"]
        assert all(t.ok and t.duration_s > 0 for ts in statements.values() for t in ts)
        with admin.cursor() as cur:
            assert _dbs(cur, f"{db.database}_rep%") == set()  # every copy dropped
        admin.close()
        # the upgrades ran on the copies: the restore itself is still at base, for whatever comes next
        conn = psycopg2.connect(db.dsn)
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('alembic_version')")
            assert cur.fetchone()[0] is None
        conn.close()


def test_a_copy_that_cannot_be_made_says_how_many_runs_were_kept_and_drops_nothing_of_others():
    with open_staging("local", run_id="scale-rep-" + uuid.uuid4().hex[:8]) as db:
        admin = psycopg2.connect(db.dsn.replace(f"dbname={db.database}", "dbname=postgres"))
        admin.autocommit = True
        taken = f"{db.database[:50]}_rep1"  # somebody else's database, where the second copy would go
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{taken}"')
        try:
            cfg = RunConfig.model_construct(alembic_ini=CLEAN)
            statements, problems, note = repeated_upgrades(cfg, db, print, 3)
            assert problems == [] and list(statements) == ["clean01", "clean02", "clean03"]
            assert note is not None and note.startswith("the upgrade ran 1 of 3 times") and "already exists" in note
            with admin.cursor() as cur:
                assert _dbs(cur, f"{db.database}_rep%") == {taken}  # the other database is still there
        finally:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{taken}"')
            admin.close()
