"""`rehearse run --app-check`: the team's commands run for real against a real staging cluster at
each moment; a check that passed before the upgrade and fails after it is RH406 (critical)."""

from __future__ import annotations

import subprocess
import sys
import uuid

from tests.report.pagetext import element_text

from .conftest import PROJECTS, at_revision, leftover_clusters, read_report, rehearse

OLD_APP = f"{sys.executable} {PROJECTS / 'app_check' / 'old_app_check.py'}"


def _run(tmp_path, url, *extra):
    out = tmp_path / "reports"
    proc = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(PROJECTS / "app_check" / "alembic.ini"),
                    "--report-dir", str(out), "--format", "json", "--format", "md", "--format", "html", *extra)
    return proc, out


def test_an_old_app_that_breaks_after_the_upgrade_is_a_critical_finding(tmp_path, source_db):
    _, url, _ = source_db
    at_revision(PROJECTS / "app_check" / "alembic.ini", url, "ac01")
    proc, out = _run(tmp_path, url, "--app-check", OLD_APP, "--app-check", "echo staging=$DATABASE_URL")
    report = read_report(out)
    runs = {(r["moment"], r["command"]): r for r in report["app_checks"]}
    assert len(runs) == 6  # two commands at three moments
    before, after, back = (runs[(m, OLD_APP)] for m in ("before-upgrade", "after-upgrade", "after-rollback"))
    assert before["ok"] and "300 items read" in before["output_tail"]
    assert not after["ok"] and after["exit_code"] == 1 and "legacy_code" in after["output_tail"]
    assert back["ok"]  # the downgrade adds the column back
    echo = runs[("before-upgrade", "echo staging=$DATABASE_URL")]
    assert echo["ok"] and "staging=postgresql://" in echo["output_tail"] and "+psycopg2" not in echo["output_tail"]
    found = [f for f in report["findings"] if f["code"] == "RH406"]
    assert len(found) == 1 and found[0]["severity"] == "critical"
    assert found[0]["evidence"]["moment"] == "after-upgrade" and found[0]["evidence"]["command"] == OLD_APP
    assert report["risk"] == "critical"
    md = (out / "report.md").read_text()
    assert "--app-check" in md and "legacy_code" in md
    section = element_text((out / "report.html").read_text(), "app-checks")
    assert f"after-upgrade {OLD_APP} exit 1" in section and " ".join(after["output_tail"].split()) in section
    assert "app check after-upgrade" in proc.stderr + proc.stdout
    assert not leftover_clusters()


def test_the_moments_and_the_variable_name_are_the_users_choice(tmp_path, source_db):
    _, url, _ = source_db
    at_revision(PROJECTS / "app_check" / "alembic.ini", url, "ac01")
    proc, out = _run(tmp_path, url, "--app-check", f"{OLD_APP} APP_DB", "--app-check-env", "APP_DB",
                     "--app-check-at", "before-upgrade,after-rollback")
    report = read_report(out)
    assert [r["moment"] for r in report["app_checks"]] == ["before-upgrade", "after-rollback"]
    assert all(r["ok"] for r in report["app_checks"])
    assert not [f for f in report["findings"] if f["code"] == "RH406"]


def test_a_timeout_kills_the_whole_process_group(tmp_path, source_db):
    _, url, _ = source_db
    at_revision(PROJECTS / "app_check" / "alembic.ini", url, "ac01")
    marker = f"{uuid.uuid4().int % 1000 + 300}.{uuid.uuid4().int % 1000}"
    # the shell starts a child that would outlive it: the group kill must end both
    proc, out = _run(tmp_path, url, "--app-check", f"sleep {marker} & sleep {marker}; wait",
                     "--app-check-timeout", "1s", "--app-check-at", "before-upgrade")
    [run] = read_report(out)["app_checks"]
    assert run["timed_out"] and not run["ok"] and "killed" in run["output_tail"]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"sleep {marker}" not in ps


def test_bad_app_check_settings_exit_2_before_any_work(tmp_path):
    for flags, why in ((["--app-check-at", "during-upgrade"], "not a moment"),
                       (["--app-check-env", "1BAD"], "not an environment variable name"),
                       (["--app-check-timeout", "soon"], "not a duration")):
        proc = rehearse("run", "--snapshot", str(tmp_path / "none"), "--alembic-ini",
                        str(PROJECTS / "app_check" / "alembic.ini"), "--app-check", "true", *flags)
        assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
