"""Settings are checked once, with file and line, before any database work; bad input exits 2.

Each command here points staging at a server that does not exist (port 1): had rehearse done
any database work before finding the bad input, it would fail on that connection instead (exit
3, another message). So every "exit 2 with this message" below also proves the order.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rehearse.config import RiskThresholds, Thresholds, load_run_config, read_settings
from rehearse.errors import BadInput

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "tests" / "projects" / "clean"
NOWHERE = "postgresql://postgres@127.0.0.1:1/postgres"


def _project(tmp_path: Path, settings: str | None = None, name: str = "rehearse.yaml") -> Path:
    dest = tmp_path / "project"
    shutil.copytree(PROJECT, dest)
    if settings is not None:
        (dest / name).write_text(settings)
    return dest / "alembic.ini"


def _snapshot(tmp_path: Path, revision: str = "clean01") -> Path:
    """A snapshot manifest good enough for the checks that run before the restore."""
    import json
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "manifest.json").write_text(json.dumps({
        "format": "rehearse-snapshot", "version": 1, "created_at": "2026-01-01T00:00:00+00:00",
        "source": {"url": "postgresql://x@h/db", "database": "db", "server_version": "15.1",
                   "server_version_num": 150001, "alembic_revisions": [revision]},
        "schema": {"file": "schema.sql", "sha256": "0" * 64, "bytes": 0}, "tables": []}))
    return snap


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rehearse.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=str(cwd or REPO))


def test_a_threshold_typo_names_the_file_and_line(tmp_path):
    ini = _project(tmp_path, "# settings\nthresholds:\n  risk:\n    high_lock_s: soon\n")
    with pytest.raises(BadInput) as err:
        load_run_config(alembic_ini=ini, snapshot=tmp_path)
    assert f"{ini.parent / 'rehearse.yaml'}:4" in err.value.one_line()
    assert "high_lock_s" in err.value.one_line() and "soon" in err.value.one_line()


def test_unknown_run_setting_and_unknown_threshold_are_refused_with_their_line(tmp_path):
    ini = _project(tmp_path, "run:\n  formats: [json]\n  mdoe: stairway\n")
    with pytest.raises(BadInput, match=r"rehearse.yaml:3: run.mdoe: unknown setting"):
        load_run_config(alembic_ini=ini, snapshot=tmp_path)
    ini2 = _project(tmp_path / "b", "thresholds:\n  lock_hold_s: 2\n")
    with pytest.raises(BadInput) as err:
        load_run_config(alembic_ini=ini2, snapshot=tmp_path)
    assert "rehearse.yaml:2: thresholds.lock_hold_s: unknown setting; use one of: " in err.value.one_line()
    assert "lock_held_s" in err.value.one_line()


def test_documented_flat_thresholds_reach_the_risk_model_and_the_rules(tmp_path):
    """docs/risk.md shows `thresholds: {high_lock_s: 2}`: it used to be read as nothing at all."""
    ini = _project(tmp_path, "thresholds:\n  high_lock_s: 2\n  large_table_rows: 1000\n  lock_held_s: 0.5\n")
    cfg = load_run_config(alembic_ini=ini, snapshot=tmp_path)
    assert cfg.risk_thresholds == RiskThresholds(high_lock_s=2, large_table_rows=1000)
    assert cfg.check_thresholds == Thresholds(lock_held_s=0.5)


def test_pyproject_tool_section_with_its_line(tmp_path):
    ini = _project(tmp_path, '[project]\nname = "app"\n\n[tool.rehearse.run]\nmode = "zigzag"\n',
                   name="pyproject.toml")
    with pytest.raises(BadInput, match=r"pyproject.toml:5: run.mode"):
        load_run_config(alembic_ini=ini, snapshot=tmp_path)


def test_flags_win_over_the_file_and_the_file_over_defaults(tmp_path):
    ini = _project(tmp_path, "run:\n  mode: stairway\n  formats: [json, html]\n  fail_on: high\n")
    cfg = load_run_config(alembic_ini=ini, snapshot=tmp_path)
    assert (cfg.mode, cfg.formats, cfg.fail_on) == ("stairway", ("json", "html"), "high")
    cfg = load_run_config(alembic_ini=ini, snapshot=tmp_path, mode="release", fail_on="none")
    assert (cfg.mode, cfg.fail_on) == ("release", None)


def test_invariants_are_validated_with_the_file(tmp_path):
    ini = _project(tmp_path, "invariants:\n  - name: x\n    sql: SELECT 1\n    expect: about five\n")
    with pytest.raises(BadInput, match=r"rehearse.yaml:4: invariants.0.expect"):
        load_run_config(alembic_ini=ini, snapshot=tmp_path)
    assert read_settings(None).data.invariants == ()


@pytest.mark.parametrize("args, message", [
    (["--to", "nope123"], "unknown revision 'nope123' (--to)"),
    (["--baseline", "{tmp}/missing.yaml"], "baseline file"),
    (["--models", "not a module"], "--models"),
    (["--report-dir", "{tmp}/a-file/reports"], "cannot write reports into"),
    (["--fail-on", "scary"], "fail-on"),
    (["--lock-timeout", "soon"], "'soon' is not a duration"),
    (["--mode", "zigzag"], "mode"),
])
def test_bad_run_input_exits_2_before_any_database_work(tmp_path, args, message):
    ini = _project(tmp_path)
    (tmp_path / "a-file").write_text("not a directory")
    snap = _snapshot(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = _run("run", "--snapshot", str(snap), "--alembic-ini", str(ini), "--staging", NOWHERE, *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_snapshot_at_a_revision_the_project_does_not_know(tmp_path):
    ini = _project(tmp_path)
    snap = _snapshot(tmp_path, revision="feedbeef0001")
    proc = _run("run", "--snapshot", str(snap), "--alembic-ini", str(ini), "--staging", NOWHERE)
    assert proc.returncode == 2, proc.stderr
    assert "feedbeef0001" in proc.stderr and "does not know" in proc.stderr


@pytest.mark.parametrize("url, message", [("prod-db", "is not a database URL"),
                                          ("postgresql://u@h:abc/db", "port that is not a number")])
def test_malformed_source_url_is_bad_input_not_an_internal_error(tmp_path, url, message):
    ini = _project(tmp_path)
    proc = _run("run", "--source", url, "--alembic-ini", str(ini), "--staging", NOWHERE)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE" in proc.stderr  # the hint is not "redacted"
    snap = _run("snapshot", url, "-o", str(tmp_path / "out"))
    assert snap.returncode == 2 and message in snap.stderr, snap.stderr
    assert not (tmp_path / "out").exists()


def test_redact_hides_passwords_and_leaves_url_templates_alone():
    from rehearse.urls import redact
    assert redact("postgresql://app:s3cret@db:5432/shop") == "postgresql://app:***@db:5432/shop"
    # an unencoded "@" in the password: hide up to the last one, never a tail of the secret
    assert redact("url 'postgresql://app:p@ss@db/shop' failed") == "url 'postgresql://app:***@db/shop' failed"
    assert redact("host=db password='a b' user=x") == "host=db password=*** user=x"
    assert redact("postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE") == \
        "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"


def test_an_unwritable_output_is_bad_input_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    report = REPO / "tests" / "report" / "data" / "demo_report.json"
    proc = _run("report", str(report), "--format", "md", "-o", str(blocker / "out.md"))
    assert proc.returncode == 2 and "is a file, not a directory" in proc.stderr, proc.stderr
    proc = _run("snapshot", NOWHERE, "-o", str(blocker / "snap"))
    assert proc.returncode == 2 and "is a file, not a directory" in proc.stderr, proc.stderr
    proc = _run("scan", NOWHERE, "-o", str(blocker / "policy.yaml"))
    assert proc.returncode == 2 and "is a file, not a directory" in proc.stderr, proc.stderr


def test_query_settings_come_from_the_file_and_flags_win(tmp_path):
    queries = tmp_path / "pgss.csv"
    queries.write_text("query,calls\n")
    ini = _project(tmp_path, f"run:\n  queries: {queries}\n  traffic_window: 2s\n  plan_top: 3\n  plan_budget: 500ms\n")
    cfg = load_run_config(alembic_ini=ini, snapshot=tmp_path)
    assert (cfg.queries, cfg.traffic_window_s, cfg.plan_top, cfg.plan_budget_s) == (queries, 2.0, 3, 0.5)
    cfg = load_run_config(alembic_ini=ini, snapshot=tmp_path, traffic_window_s=4.0, plan_top=0, plan_budget="1s")
    assert (cfg.traffic_window_s, cfg.plan_top, cfg.plan_budget_s) == (4.0, 0, 1.0)
    # a duration may be a plain number of seconds, in YAML and in TOML
    ini = _project(tmp_path / "b", "run:\n  traffic_window: 3\n  plan_budget: 1.5\n  lock_timeout: 2\n")
    cfg = load_run_config(alembic_ini=ini, snapshot=tmp_path)
    assert (cfg.traffic_window_s, cfg.plan_budget_s, cfg.lock_timeout_s) == (3.0, 1.5, 2.0)
    ini = _project(tmp_path / "c", '[tool.rehearse.run]\nplan_top = 4\nplan_budget = "250ms"\n', name="pyproject.toml")
    cfg = load_run_config(alembic_ini=ini, snapshot=tmp_path)
    assert (cfg.plan_top, cfg.plan_budget_s) == (4, 0.25)


def test_app_checks_scale_settings_and_rewrites_come_from_the_file_and_flags_win(tmp_path):
    ini = _project(tmp_path, "run:\n  app_checks:\n    - pytest tests/smoke\n"
                             "    - {cmd: python old.py, timeout: 30s, env: APP_DB, at: after-upgrade}\n"
                             "  scale: 1%,3%\n  settings: {work_mem: 64MB, enable_seqscan: off}\n"
                             "  suggest_rewrites: true\n")
    cfg = load_run_config(alembic_ini=ini, snapshot=tmp_path)
    smoke, old = cfg.app_checks
    assert (smoke.command, smoke.timeout_s, smoke.env, smoke.at) == (
        "pytest tests/smoke", 300.0, "DATABASE_URL", ("before-upgrade", "after-upgrade", "after-rollback"))
    assert (old.command, old.timeout_s, old.env, old.at) == ("python old.py", 30.0, "APP_DB", ("after-upgrade",))
    assert cfg.scale == (0.01, 0.03) and cfg.suggest_rewrites
    assert cfg.pg_settings == (("work_mem", "64MB"), ("enable_seqscan", "off"))  # YAML's off is PostgreSQL's
    # flags replace the file's lists; --app-check-timeout/-env/-at are the defaults of the flags' commands
    cfg = load_run_config(alembic_ini=ini, snapshot=tmp_path, app_checks=("true",), app_check_timeout="7s",
                          app_check_at=("before-upgrade",), pg_settings=("lock_timeout=1s",), scale="2%,4%")
    [flag] = cfg.app_checks
    assert (flag.command, flag.timeout_s, flag.at) == ("true", 7.0, ("before-upgrade",))
    assert cfg.pg_settings == (("lock_timeout", "1s"),) and cfg.scale == (0.02, 0.04)


@pytest.mark.parametrize("settings, where, message", [
    ("run:\n  formats: [json]\n  plan_top: -1\n", "rehearse.yaml:3: run.plan_top", "greater than or equal to 0"),
    ("run:\n  plan_top: many\n", "rehearse.yaml:2: run.plan_top", "valid integer"),
    ("run:\n  plan_budget: soon\n", "rehearse.yaml:2: run.plan_budget", "'soon' is not a duration"),
    ("run:\n  plan_budget: 0s\n", "rehearse.yaml:2: run.plan_budget", "must be more than 0"),
    ("run:\n  traffic_window: forever\n", "rehearse.yaml:2: run.traffic_window", "'forever' is not a duration"),
    ("run:\n  traffic_window: -5s\n", "rehearse.yaml:2: run.traffic_window", "negative duration"),
    ("run:\n  lock_timeout: soon\n", "rehearse.yaml:2: run.lock_timeout", "'soon' is not a duration"),
    ("# production's shapes\nrun:\n  queries: {tmp}/missing.csv\n", "rehearse.yaml:3: run.queries", "no such file"),
    ("run:\n  plan_tpo: 3\n", "rehearse.yaml:2: run.plan_tpo", "unknown setting"),
    ("run:\n  app_checks:\n    - pytest\n    - {cmd: smoke, env: 1BAD}\n", "rehearse.yaml:4: run.app_checks.1.env",
     "not an environment variable name"),
    ("run:\n  app_checks:\n    - {cmd: smoke, at: during-upgrade}\n", "rehearse.yaml:3: run.app_checks.0.at",
     "not a moment"),
    ("run:\n  app_checks:\n    - {cmd: smoke, timeout: soon}\n", "rehearse.yaml:3: run.app_checks.0.timeout",
     "'soon' is not a duration"),
    ("run:\n  scale: 10%\n", "rehearse.yaml:2: run.scale", "at least two subset sizes"),
    ("run:\n  settings:\n    work mem: 64MB\n", "rehearse.yaml:2: run.settings", "not a setting name"),
])
def test_bad_query_settings_exit_2_with_file_and_line_before_any_database_work(tmp_path, settings, where, message):
    ini = _project(tmp_path, settings.replace("{tmp}", str(tmp_path)))
    proc = _run("run", "--snapshot", str(_snapshot(tmp_path)), "--alembic-ini", str(ini), "--staging", NOWHERE)
    assert proc.returncode == 2, proc.stderr
    assert where in proc.stderr and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_bad_plan_budget_flag_exits_2(tmp_path):
    ini = _project(tmp_path)
    proc = _run("run", "--snapshot", str(_snapshot(tmp_path)), "--alembic-ini", str(ini), "--staging", NOWHERE,
                "--plan-budget", "soon")
    assert proc.returncode == 2 and "'soon' is not a duration" in proc.stderr, proc.stderr
