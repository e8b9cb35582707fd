"""The pytest plugin, run as a user runs it: `pytest --rehearse` in a sample project (a real process).

The projects are copied to a temporary directory first, so the run writes nothing here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


PROJECTS = Path(__file__).resolve().parent / "projects"
SERVER_URL = os.environ.get("REHEARSE_TEST_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def run_pytest(project: str, tmp_path: Path, *args: str, extra_test: str | None = None):
    where = tmp_path / project
    shutil.copytree(PROJECTS / project, where)
    if extra_test:
        (where / "test_with_fixtures.py").write_text(extra_test)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("REHEARSE_SECRET", None)  # the plugin's empty database needs none
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                          cwd=where, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_silent_without_the_option(tmp_path):
    code, out = run_pytest("good", tmp_path)
    assert code == 0 and "1 passed" in out and "rehearse::" not in out


def test_a_sound_project_passes_all_three_checks(tmp_path):
    code, out = run_pytest("good", tmp_path, "--rehearse", "-v", "-v")
    assert code == 0, out
    for check in ("graph", "static", "rollback"):
        assert f"rehearse::{check} PASSED" in out
    assert "4 passed" in out
    assert "rehearse: " in out and "an empty database, staging in a local throwaway cluster" in out


def test_a_broken_downgrade_fails_with_the_reports_reason(tmp_path):
    code, out = run_pytest("broken_downgrade", tmp_path, "--rehearse", "--rehearse-url", SERVER_URL)
    assert code == 1, out
    assert "FAILED rehearse::rollback" in out
    assert ("downgrade of g02 does not restore the database: column notes.title was added and is still "
            "there after the downgrade") in out
    assert "Traceback" not in out and "rehearse/pytest_plugin.py" not in out  # the reason, not our stack
    assert "rehearse::graph" not in out.split("short test summary info")[-1]  # the graph itself is fine
    assert "1 failed, 3 passed" in out


def test_fixtures_for_hand_written_tests(tmp_path):
    test = '''
def test_rollback_is_proven(rehearse_report):
    assert rehearse_report.outcome == "pass"
    assert [r.id for r in rehearse_report.revisions] == ["g01", "g02"]
    assert rehearse_report.rollback.classification == "reversible"


def test_no_blocking_static_finding(rehearse_lint_findings, rehearse_graph_findings):
    assert not [f for f in rehearse_lint_findings if f.severity in ("high", "critical")]
    assert not rehearse_graph_findings
'''
    code, out = run_pytest("good", tmp_path, "--rehearse-url", SERVER_URL, extra_test=test)
    assert code == 0, out
    assert "3 passed" in out


def test_a_bad_option_is_one_line(tmp_path):
    code, out = run_pytest("good", tmp_path, "--rehearse", "--rehearse-ini", "nowhere/alembic.ini")
    assert code == 1
    assert "rehearse could not run:" in out and "Traceback" not in out
