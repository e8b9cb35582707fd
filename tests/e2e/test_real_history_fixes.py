"""`rehearse run` on patterns taken from real Alembic histories (docs/real-histories.md).

Each test reproduces what broke on a public history (prefect, mlflow, optuna) with a small
project under tests/projects/real_histories/, and runs the real command line on it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import anyio
import anyio.to_thread
import psycopg2
import pytest
from alembic import command
from alembic.config import Config

from .conftest import PROJECTS, at_revision, leftover_clusters, read_report, rehearse

REAL = PROJECTS / "real_histories"


@pytest.fixture(autouse=True)
def run_dir(monkeypatch):
    """A run directory of this test's own, so that "no cluster left running" looks only at the
    clusters this test's rehearsal started, not at other engineers' runs on the same machine."""
    path = Path(tempfile.mkdtemp(prefix="rhrt-", dir="/tmp"))  # short: socket paths stay < 107 bytes
    path.chmod(0o755)
    monkeypatch.setenv("REHEARSE_RUN_DIR", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _left_running(run_dir: Path) -> list[str]:
    return [line for line in leftover_clusters() if f" -D {run_dir}/" in line]


def _run(tmp_path, ini, source_url, *extra, env=None):
    report_dir = tmp_path / "reports"
    proc = rehearse("run", "--source", source_url, "--no-strict", "--alembic-ini", str(ini),
                    "--report-dir", str(report_dir), *extra, env=env)
    return proc, report_dir


def _statements(report: dict, rev: str, phase: str = "upgrade") -> list[dict]:
    (found,) = [r for r in report["revisions"] if r["id"] == rev]
    return found[phase]["statements"]


def test_async_env_keeps_the_asyncpg_driver_and_traces_locks(tmp_path, source_db, project, run_dir):
    """Was: rehearse handed env.py a psycopg2 URL ("The asyncio extension requires an async
    driver"), and once past that, traced no lock on an asyncpg connection."""
    _, url, _ = source_db
    cfg = Config(str(project("async_env")))
    cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+asyncpg://"))
    command.upgrade(cfg, "as01")
    proc, report_dir = _run(tmp_path, project("async_env"), url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = read_report(report_dir)
    assert report["outcome"] == "pass"
    assert [r["id"] for r in report["revisions"]] == ["as02"]
    add_column, create_index = _statements(report, "as02")
    assert add_column["in_transaction"] is True
    assert [(lock["relation"], lock["mode"], lock["rows"]) for lock in add_column["locks"]] == [
        ("public.jobs", "AccessExclusiveLock", 300)]
    assert [lock["mode"] for lock in create_index["locks"]] == ["ShareLock"]
    assert any("added column jobs.priority" in c for c in add_column["catalog_changes"])
    assert not _left_running(run_dir)


def test_version_table_in_its_own_schema_is_followed(tmp_path, source_db):
    """Was: rehearse read public.alembic_version, saw an empty database, planned the whole
    history from base and failed re-creating the first revision's table."""
    _, url, dsn = source_db
    ini = REAL / "version_table_schema" / "alembic.ini"
    at_revision(ini, url, "vt01")
    proc, report_dir = _run(tmp_path, ini, url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = read_report(report_dir)
    assert report["outcome"] == "pass", report["failures"]
    assert report["start_revision"] == "vt01" and report["target_revision"] == "vt03"
    assert [r["id"] for r in report["revisions"]] == ["vt02", "vt03"]
    for rev in report["revisions"]:
        # the version table is bookkeeping: its rows change every step, never a data finding
        assert rev["rollback"]["ok"] and rev["rollback"]["classification"] == "reversible", rev["rollback"]
        assert not [d for d in rev["rollback"]["data_diff"] if "schema_history" in d["table"]]
        assert not any("schema_history" in s["sql"] for s in rev["upgrade"]["statements"])
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:  # the source is only read
        cur.execute("SELECT version_num FROM meta.schema_history")
        assert cur.fetchall() == [("vt01",)]


def _upgrade_in_worker_thread(ini, revision: str) -> None:
    async def main() -> None:
        await anyio.to_thread.run_sync(command.upgrade, Config(str(ini)), revision)
    anyio.run(main)


def test_env_py_run_from_an_anyio_worker_thread_with_url_from_env(tmp_path, source_db, monkeypatch):
    """Was (prefect): every step failed with anyio's NoEventLoopError; once run from a worker
    thread, the tracer ignored the statements (they ran in another thread)."""
    _, url, _ = source_db
    source_async = url.replace("postgresql://", "postgresql+asyncpg://")
    ini = REAL / "anyio_worker_env" / "alembic.ini"
    monkeypatch.setenv("WORKER_DB_URL", source_async)
    _upgrade_in_worker_thread(ini, "aw01")
    # the user's shell holds the production URL with its driver: rehearse keeps +asyncpg
    proc, report_dir = _run(tmp_path, ini, url, "--url-env", "WORKER_DB_URL",
                            env={"WORKER_DB_URL": source_async})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = read_report(report_dir)
    assert report["outcome"] == "pass", report["failures"]
    assert [r["id"] for r in report["revisions"]] == ["aw02", "aw03"]
    assert all(r["rollback"]["ok"] and r["reupgrade"]["ok"] for r in report["revisions"])
    batch = _statements(report, "aw02")
    assert batch and batch[0]["sql"].startswith("ALTER TABLE runs ADD COLUMN attempts")
    assert [lock["mode"] for lock in batch[0]["locks"]] == ["AccessExclusiveLock"]
    (widen,) = [s for s in batch if "TYPE BIGINT" in s["sql"]]
    assert "public.runs" in widen["rewrites"]  # relfilenode compared over the asyncpg connection
    (concurrently,) = _statements(report, "aw03")
    assert "CONCURRENTLY" in concurrently["sql"] and concurrently["in_transaction"] is False
    assert not any(f["code"] == "RH101" for r in report["revisions"] for f in r["findings"])


def _import_time_at(ini, source: str, revision: str, monkeypatch) -> None:
    """Bring the source to ``revision`` in this process, with settings read fresh from the env."""
    monkeypatch.setenv("IMPORT_DB_URL", source)
    monkeypatch.delitem(sys.modules, "it_app_settings", raising=False)
    command.upgrade(Config(str(ini)), revision)
    monkeypatch.delitem(sys.modules, "it_app_settings", raising=False)


def _version(dsn: str) -> list:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT version_num FROM alembic_version")
        return cur.fetchall()


def test_url_read_at_import_is_the_staging_one_and_the_source_is_untouched(tmp_path, source_db,
                                                                             monkeypatch):
    """Was (prefect): rehearse imported the revision files (and so the project's settings)
    while the variable still held the user's production URL: every "rehearsed" step migrated
    the source, and the report said all was reversible."""
    _, url, dsn = source_db
    source = url.replace("postgresql://", "postgresql+psycopg2://")
    ini = REAL / "import_time_url" / "alembic.ini"
    _import_time_at(ini, source, "it01", monkeypatch)
    proc, report_dir = _run(tmp_path, ini, url, "--url-env", "IMPORT_DB_URL", env={"IMPORT_DB_URL": source})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = read_report(report_dir)
    assert report["outcome"] == "pass" and [r["id"] for r in report["revisions"]] == ["it02"]
    assert _statements(report, "it02")[0]["sql"].startswith("ALTER TABLE events ADD COLUMN source")
    assert _version(dsn) == [("it01",)]  # the source was only read


def test_env_py_connecting_elsewhere_is_refused_before_any_migration(tmp_path, source_db, monkeypatch, run_dir):
    """Without --url-env the same project connects to the source: rehearse must notice before
    running a single revision there, and say how to fix it."""
    _, url, dsn = source_db
    source = url.replace("postgresql://", "postgresql+psycopg2://")
    ini = REAL / "import_time_url" / "alembic.ini"
    _import_time_at(ini, source, "it01", monkeypatch)
    proc, report_dir = _run(tmp_path, ini, url, env={"IMPORT_DB_URL": source})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "env.py connects to" in proc.stderr and "--url-env" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _version(dsn) == [("it01",)]
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'events' "
                    "AND column_name = 'source'")
        assert cur.fetchone() == (0,)
    assert not _left_running(run_dir)


def test_a_downgrade_that_raises_is_not_blamed_on_the_older_revisions(tmp_path, source_db, run_dir):
    """Was (ckan 2.12, 038 fd6622e3d964): its downgrade raises (a column declared twice), then
    rehearse stamped it undone and every older downgrade of the harvest tables failed with
    'relation "harvest" does not exist': six false "broken" revisions for one real one."""
    _, url, dsn = source_db
    ini = REAL / "failed_downgrade_cascade" / "alembic.ini"
    at_revision(ini, url, "fc00")
    proc, report_dir = _run(tmp_path, ini, url, "--to", "fc03")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = read_report(report_dir)
    rollback = {r["id"]: r["rollback"] for r in report["revisions"]}
    assert rollback["fc03"]["classification"] == "broken"
    assert "already present" in rollback["fc03"]["error"]
    # the older revisions are rehearsed on the database their own upgrades made
    for rev in ("fc02", "fc01"):
        assert rollback[rev]["ok"] and rollback[rev]["classification"] == "reversible", rollback[rev]
    assert not any("does not exist" in line for line in report["failures"]), report["failures"]
    assert _version(dsn) == [("fc00",)]  # the source was only read
    assert not _left_running(run_dir)


def test_a_downgrade_that_fails_on_a_clean_database_is_not_blamed_on_a_later_residue(tmp_path, source_db):
    """ckan 2.12 report: "the full downgrade fails at fd6622e3d964 because of what the downgrade of
    d4d9be9189fe left behind: A column with name 'created' is already present": 038's downgrade
    raises on any database (rehearse's own retry on the checkpoint proves it), so the residue of
    d4d9be9189fe (a later revision) is not why."""
    _, url, _ = source_db
    ini = REAL / "failed_downgrade_cascade" / "alembic.ini"
    at_revision(ini, url, "fc00")
    proc, report_dir = _run(tmp_path, ini, url)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = read_report(report_dir)
    rollback = {r["id"]: r["rollback"] for r in report["revisions"]}
    assert rollback["fc04"]["classification"] != "reversible"  # its index stays: a real residue
    assert rollback["fc03"]["classification"] == "broken"
    assert not [line for line in report["failures"] if "because of what the downgrade of fc04" in line], \
        report["failures"]


def test_rows_a_later_downgrade_left_are_not_blamed_on_an_older_revision(tmp_path, source_db):
    """superset 4.1.4: 228 of 230 data-loss verdicts came only from Flask-AppBuilder's permission
    tables, whose rows later upgrades add and their downgrades leave."""
    _, url, _ = source_db
    ini = REAL / "permission_rows" / "alembic.ini"
    at_revision(ini, url, "pr01")
    proc, report_dir = _run(tmp_path, ini, url)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = read_report(report_dir)
    rollback = {r["id"]: r["rollback"] for r in report["revisions"]}
    assert not rollback["pr03"]["ok"]  # its two rows stay: a real residue
    assert rollback["pr02"]["ok"] and rollback["pr02"]["classification"] == "reversible", rollback["pr02"]
