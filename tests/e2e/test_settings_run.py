"""`rehearse run --setting`: the upgrade rehearsed again with a configuration change on a real
staging cluster, compared statement by statement; unknown settings exit 2 before any work."""

from __future__ import annotations

from .conftest import PROJECTS, at_revision, read_report, rehearse

INI = PROJECTS / "app_check" / "alembic.ini"


def test_a_setting_that_breaks_a_statement_is_reported_as_behaving_differently(tmp_path, source_db):
    _, url, _ = source_db
    at_revision(INI, url, "ac01")
    settings = tmp_path / "prod.conf"
    settings.write_text("# what production will run with\nlock_timeout = 5s\n")
    out = tmp_path / "reports"
    proc = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(INI), "--report-dir", str(out),
                    "--settings", str(settings), "--setting", "statement_timeout=1ms")
    report = read_report(out)
    change = report["settings_change"]
    assert change["settings"] == {"lock_timeout": "5s", "statement_timeout": "1ms"}
    [drop] = [s for s in change["statements"] if "DROP COLUMN legacy_code" in s["sql"]]
    assert drop["baseline_ok"] and drop["differs"]
    assert not drop["changed_ok"] or drop["changed_s"] is None
    assert "behave differently" in proc.stderr + proc.stdout


def test_unknown_or_restart_only_settings_exit_2_before_any_work(tmp_path):
    for flag, why in (("nosuch_setting=1", "no such setting"), ("shared_buffers=1GB", "server start"),
                      ("work_mem", "not name=value")):
        proc = rehearse("run", "--snapshot", str(tmp_path / "none"), "--alembic-ini", str(INI), "--setting", flag)
        assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
