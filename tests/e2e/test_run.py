"""`rehearse run` end to end: real source on 5432, real throwaway staging clusters, real Alembic."""

from __future__ import annotations

import psycopg2
import pytest

from .conftest import PROJECTS, at_revision, leftover_clusters, read_report, rehearse


def _run(tmp_path, ini, source_url, *extra):
    report_dir = tmp_path / "reports"
    proc = rehearse("run", "--source", source_url, "--no-strict", "--alembic-ini", str(ini),
                    "--report-dir", str(report_dir), *extra)
    return proc, report_dir


def test_clean_history_passes_with_every_report_field(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("clean"), url, "clean01")
    proc, report_dir = _run(tmp_path, project("clean"), url)
    assert proc.returncode == 0, proc.stderr
    report = read_report(report_dir)
    assert report["outcome"] == "pass"
    assert report["start_revision"] == "clean01"
    assert report["target_revision"] == "clean03"
    assert [r["id"] for r in report["revisions"]] == ["clean02", "clean03"]
    for rev in report["revisions"]:
        assert rev["message"]
        assert rev["upgrade"]["ok"] and rev["upgrade"]["duration_s"] > 0
        assert rev["upgrade"]["statements"], "every executed statement is recorded"
        statements = rev["upgrade"]["statements"]
        assert all(s["sql"] and s["duration_s"] > 0 for s in statements)
        # statements run inside the step: their durations cannot add up to more than it took
        assert sum(s["duration_s"] for s in statements) <= rev["upgrade"]["duration_s"]
        assert rev["downgrade"]["ok"] and rev["downgrade"]["error"] is None
        assert rev["reupgrade"]["ok"]
    assert report["rollback"]["ok"] and report["rollback"]["schema_diff"] == []
    assert report["reupgrade"]["ok"]
    assert (report_dir / "report.md").read_text().strip()
    assert not leftover_clusters()


def test_broken_downgrade_is_caught_with_its_schema_diff(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("broken_downgrade"), url, "bd01")
    proc, report_dir = _run(tmp_path, project("broken_downgrade"), url)
    assert proc.returncode == 1, proc.stderr
    report = read_report(report_dir)
    assert report["outcome"] == "fail"
    (rev,) = report["revisions"]
    assert rev["id"] == "bd02"
    assert rev["downgrade"]["ok"] is True  # it ran...
    assert rev["rollback"]["ok"] is False  # ...but did not bring the schema back
    objects = " ".join(d["object"] + " " + d["message"] for d in rev["rollback"]["schema_diff"])
    assert "sku" in objects
    assert report["rollback"]["ok"] is False
    assert any("bd02" in line for line in report["failures"])


def test_migration_failing_midway_names_revision_and_statement(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("fails_midway"), url, "fm01")
    proc, report_dir = _run(tmp_path, project("fails_midway"), url)
    assert proc.returncode == 1, proc.stderr
    report = read_report(report_dir)
    fm02 = next(r for r in report["revisions"] if r["id"] == "fm02")
    assert fm02["upgrade"]["ok"] is False
    assert "ck_stock_qty_non_negative" in fm02["upgrade"]["failed_statement"]
    assert "violated" in fm02["upgrade"]["error"] or "check constraint" in fm02["upgrade"]["error"]
    failed = [s for s in fm02["upgrade"]["statements"] if not s["ok"]]
    assert len(failed) == 1 and failed[0]["location"].endswith(".py:" + failed[0]["location"].rsplit(":", 1)[1])
    fm03 = next(r for r in report["revisions"] if r["id"] == "fm03")
    assert fm03["upgrade"]["skipped"] is True
    assert not leftover_clusters()


def test_scratch_database_on_a_server_is_dropped(tmp_path, source_db, project, server_url):
    """Checks only the databases this run marked as its own (other runs share the server)."""
    import os
    import subprocess
    import sys
    _, url, dsn = source_db
    at_revision(project("clean"), url, "clean01")
    report_dir = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "rehearse.cli", "run", "--source", url, "--no-strict",
                             "--alembic-ini", str(project("clean")), "--report-dir", str(report_dir),
                             "--staging", server_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert read_report(report_dir)["staging"] == "server"
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE %s",
                    (f"rehearse:%:{proc.pid}:%",))
        assert cur.fetchall() == []


@pytest.mark.parametrize("args, words", [
    (["--to", "nosuchrev"], "unknown revision"),
    (["--alembic-ini", "/nonexistent/alembic.ini"], "alembic.ini not found"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, source_db, project, args, words):
    _, url, _ = source_db
    at_revision(project("clean"), url, "clean01")
    base = ["run", "--source", url, "--no-strict", "--report-dir", str(tmp_path / "r")]
    if "--alembic-ini" not in args:
        base += ["--alembic-ini", str(project("clean"))]
    proc = rehearse(*base, *args)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("rehearse:")]
    assert len(lines) == 1 and words in lines[0]
    assert "Traceback" not in proc.stderr
    assert not leftover_clusters()


def test_unreachable_source_is_bad_input(tmp_path, project):
    proc = rehearse("run", "--source", "postgresql://nobody:secretpw@127.0.0.1:1/nowhere", "--no-strict",
                    "--alembic-ini", str(project("clean")), "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "secretpw" not in proc.stderr + proc.stdout
    assert len([line for line in proc.stderr.splitlines() if line.startswith("rehearse:")]) == 1


def test_unknown_staging_url_scheme_and_missing_snapshot(tmp_path, project):
    proc = rehearse("run", "--snapshot", str(tmp_path / "missing"), "--alembic-ini", str(project("clean")),
                    "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
