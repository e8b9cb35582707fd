"""The command line as a user meets it: help for everything, one-line errors, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rehearse.cli import app

REPO = Path(__file__).resolve().parent.parent
RECORDED = REPO / "tests" / "report" / "data" / "demo_report.json"
runner = CliRunner()
COMMANDS = ["run", "snapshot", "scan", "rules", "lint", "report", "gc", "version"]


def test_every_command_is_listed_and_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert re.search(rf"\b{command}\b", result.output), command
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0, command
        assert len(sub.output.strip()) > 80, command


def test_readme_shows_every_user_command():
    readme = (REPO / "README.md").read_text()
    for command in ["run", "snapshot", "scan", "rules", "lint", "report", "gc"]:
        assert f"rehearse {command}" in readme, command


def test_rules_lists_the_catalogue_and_prints_one_doc():
    listing = runner.invoke(app, ["rules"])
    assert listing.exit_code == 0
    assert "require-concurrent-index" in listing.output
    doc = runner.invoke(app, ["rules", "RH101"])
    assert doc.exit_code == 0
    assert "Alembic" in doc.output and "RH101" in doc.output


def test_unknown_rule_is_bad_input():
    result = runner.invoke(app, ["rules", "RH999"])
    assert result.exit_code == 2
    assert result.output.count("rehearse:") == 1


def test_lint_finds_the_demo_history_risky_without_a_database():
    result = runner.invoke(app, ["lint", "--alembic-ini", str(REPO / "migrations" / "alembic.ini")])
    assert result.exit_code == 1, result.output
    assert "RH101" in result.output  # 0003 creates an index without CONCURRENTLY
    assert "0003" in result.output


def test_lint_json_output_is_findings():
    result = runner.invoke(app, ["lint", "--alembic-ini", str(REPO / "migrations" / "alembic.ini"),
                                 "--format", "json", "--fail-on", "critical"])
    findings = json.loads(result.output)
    assert findings and {"code", "name", "severity", "revision", "message"} <= set(findings[0])


@pytest.mark.parametrize("fmt", ["markdown", "md", "json", "junit", "sarif", "html", "terminal"])
def test_report_renders_a_recorded_report(tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    result = runner.invoke(app, ["report", str(RECORDED), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().strip()


def test_report_of_a_missing_file_is_bad_input(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_report_of_a_non_report_is_bad_input(tmp_path):
    bogus = tmp_path / "x.json"
    bogus.write_text('{"hello": 1}')
    result = runner.invoke(app, ["report", str(bogus), "--format", "json"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_snapshot_of_an_unreachable_source_is_one_line(tmp_path):
    result = runner.invoke(app, ["snapshot", "postgresql://u:hunter2@127.0.0.1:1/db", "-o", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "hunter2" not in result.output
    assert not (tmp_path / "s").exists()


def test_a_non_postgres_url_is_refused():
    result = runner.invoke(app, ["snapshot", "mysql://root@localhost/db", "-o", "/tmp/never"])
    assert result.exit_code == 2
    assert "PostgreSQL" in result.output


def test_run_needs_exactly_one_source(tmp_path):
    result = runner.invoke(app, ["run", "--alembic-ini", str(REPO / "migrations" / "alembic.ini")])
    assert result.exit_code == 2
    assert "exactly one of --snapshot" in result.output


def test_bad_duration_and_level_are_bad_input(tmp_path):
    ini = str(REPO / "migrations" / "alembic.ini")
    a = runner.invoke(app, ["run", "--snapshot", str(tmp_path), "--alembic-ini", ini, "--lock-timeout", "soon"])
    assert a.exit_code == 2 and "not a duration" in a.output
    b = runner.invoke(app, ["run", "--snapshot", str(tmp_path), "--alembic-ini", ini, "--fail-on", "scary"])
    assert b.exit_code == 2 and "--fail-on" in b.output


def test_gc_runs():
    result = runner.invoke(app, ["gc"])
    assert result.exit_code == 0
    assert "removed" in result.output
