"""`rehearse run --setting`: the upgrade rehearsed again with a configuration change on a real
staging cluster, compared statement by statement; unknown settings exit 2 before any work."""

from __future__ import annotations

from tests.report.pagetext import element_text

from .conftest import PROJECTS, at_revision, read_report, rehearse

INI = PROJECTS / "app_check" / "alembic.ini"


def test_a_setting_that_breaks_a_statement_is_reported_as_behaving_differently(tmp_path, source_db):
    # read-only transactions refuse the DDL whatever the machine's load (statement_timeout=1ms,
    # used before, sometimes cancelled env.py's first query instead under load)
    _, url, _ = source_db
    at_revision(INI, url, "ac01")
    settings = tmp_path / "prod.conf"
    settings.write_text("# what production will run with\nlock_timeout = 5s\n")
    out = tmp_path / "reports"
    proc = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(INI), "--report-dir", str(out),
                    "--settings", str(settings), "--setting", "default_transaction_read_only=on")
    report = read_report(out)
    change = report["settings_change"]
    assert change["settings"] == {"lock_timeout": "5s", "default_transaction_read_only": "on"}
    [drop] = [s for s in change["statements"] if "DROP COLUMN legacy_code" in s["sql"]]
    assert drop["baseline_ok"] and drop["differs"]
    assert not drop["changed_ok"] or drop["changed_s"] is None
    assert "behave differently" in proc.stderr + proc.stdout


def test_unknown_or_restart_only_settings_exit_2_before_any_work(tmp_path):
    for flag, why in (("nosuch_setting=1", "no such setting"), ("shared_buffers=1GB", "server start"),
                      ("work_mem", "not name=value")):
        proc = rehearse("run", "--snapshot", str(tmp_path / "none"), "--alembic-ini", str(INI), "--setting", flag)
        assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_settings_that_turn_off_index_scans_change_the_shapes_plans(tmp_path, source_db):
    """With shapes (--queries), their plans are compared on the upgraded copy without and with the settings."""
    _, url, _ = source_db
    ini = PROJECTS / "pg_versions" / "alembic.ini"
    at_revision(ini, url, "pv01")
    queries = tmp_path / "pgss.csv"
    queries.write_text('query,calls\n"SELECT id, balance FROM accounts WHERE email = $1",1000\n')
    out = tmp_path / "reports"
    proc = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(ini), "--to", "pv02",
                    "--report-dir", str(out), "--queries", str(queries), "--format", "json", "--format", "html",
                    "--setting", "enable_indexscan=off", "--setting", "enable_bitmapscan=off")
    change = read_report(out)["settings_change"]
    [plan] = change["plans"]
    assert plan["query"] == "SELECT id, balance FROM accounts WHERE email = $1"
    assert "Index Scan using ix_accounts_email" in plan["before"]["plan"]  # without the settings
    assert "Seq Scan on accounts" in plan["after"]["plan"] and plan["plan_changed"]
    assert plan["lost_indexes"] == ["ix_accounts_email"]
    assert plan["before"]["params"] == plan["after"]["params"]
    assert plan["after"]["cost"] > plan["before"]["cost"]
    assert "plan (without -> with)" in proc.stdout + proc.stderr
    section = element_text((out / "report.html").read_text(), "settings-change")
    assert section.startswith("With enable_indexscan=off, enable_bitmapscan=off: ")
    assert f"{plan['query']} rate unknown Index Scan using ix_accounts_email" in section
    assert "Seq Scan on accounts" in section and "loses ix_accounts_email" in section


def test_a_setting_that_leaves_plans_alone_reports_them_unchanged(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "pg_versions" / "alembic.ini"
    at_revision(ini, url, "pv01")
    queries = tmp_path / "pgss.csv"
    queries.write_text('query,calls\n"SELECT id, balance FROM accounts WHERE email = $1",1000\n')
    out = tmp_path / "reports"
    rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(ini), "--to", "pv02",
             "--report-dir", str(out), "--queries", str(queries), "--setting", "lock_timeout=5s")
    [plan] = read_report(out)["settings_change"]["plans"]
    assert plan["before"]["plan"] == plan["after"]["plan"] and not plan["plan_changed"]
    assert not plan["lost_indexes"] and not plan["slower"]
