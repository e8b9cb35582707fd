"""`lint_project` on the shared fixture projects (offline mode, no database) and baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearse.checks import check_graph, lint_sql
from rehearse.checks.baseline import apply_baseline, load_baseline
from rehearse.checks.lint import lint_offline_sql, lint_project
from rehearse.errors import BadInput

PROJECTS = Path(__file__).resolve().parent.parent / "projects"


def test_lint_project_names_revisions():
    findings = lint_project(PROJECTS / "fails_midway" / "alembic.ini")
    by_rev = {(f.revision, f.code) for f in findings}
    assert ("fm02", "RH131") in by_rev  # CHECK without NOT VALID
    assert ("fm03", "RH101") in by_rev  # CREATE INDEX without CONCURRENTLY
    assert not any(f.revision is None for f in findings)
    assert not any("alembic_version" in (f.statement or "") for f in findings)


def test_lint_project_sees_autocommit_blocks():
    findings = lint_project(PROJECTS / "autocommit_concurrent" / "alembic.ini")
    codes = {(f.revision, f.code) for f in findings}
    assert ("cc02", "RH103") not in codes  # CONCURRENTLY runs outside the transaction: fine
    assert ("cc02", "RH101") not in codes


def test_lint_project_range_and_errors(tmp_path):
    only = lint_project(PROJECTS / "fails_midway" / "alembic.ini", revision_range="fm02:fm03")
    assert {f.revision for f in only} == {"fm03"}
    with pytest.raises(BadInput):
        lint_project(tmp_path / "alembic.ini")


def test_offline_output_splits_by_marker():
    sql = ("BEGIN;\n-- Running upgrade  -> a1\n\nCREATE TABLE t (id int);\nCREATE INDEX ix ON t (id);\n"
           "-- Running upgrade a1 -> b2\n\nCREATE INDEX ix2 ON t (id);\nCOMMIT;\n")
    findings = lint_offline_sql(sql)
    assert [(f.revision, f.code) for f in findings if f.code == "RH101"] == [("b2", "RH101")]


def test_graph_findings_carry_revision_and_location():
    findings = check_graph(PROJECTS / "pass_downgrade" / "alembic.ini")
    got = {(f.code, f.revision) for f in findings}
    assert got == {("RH303", "pd04"), ("RH304", "pd02"), ("RH305", "pd03")}
    assert all(f.phase == "graph" and f.location for f in findings)


def test_baseline_accepts_matching_findings(tmp_path):
    path = tmp_path / "baseline.yaml"
    path.write_text("accepted:\n"
                    "  - {code: RH101, revision: r1, reason: 'small table, reviewed 2024-05'}\n"
                    "  - {code: ban-drop-column, revision: '*', reason: column unused since v2}\n")
    baseline = load_baseline(path)
    sql = "CREATE INDEX ix ON t (a); ALTER TABLE t DROP COLUMN b"
    r1 = apply_baseline(lint_sql(sql, revision="r1"), baseline)
    r2 = apply_baseline(lint_sql(sql, revision="r2"), baseline)
    accepted = lambda fs: {f.code: f.accepted for f in fs if f.code in ("RH101", "RH115")}
    assert accepted(r1) == {"RH101": "small table, reviewed 2024-05", "RH115": "column unused since v2"}
    assert accepted(r2) == {"RH101": None, "RH115": "column unused since v2"}


def test_bad_baseline_is_bad_input(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("accepted:\n  - {code: RH101}\n")
    with pytest.raises(BadInput):
        load_baseline(path)
    with pytest.raises(BadInput):
        load_baseline(tmp_path / "missing.yaml")


def test_traced_statements_use_trace_transaction_state():
    from rehearse.checks import check_step
    from rehearse.model import LockTaken, StatementTrace, StepResult

    traces = (
        StatementTrace(sql="ALTER TABLE big ADD COLUMN a int", duration_s=0.01, in_transaction=True,
                       locks=(LockTaken("public.big", "AccessExclusiveLock", True, True, 0.5, 10, 8192),)),
        StatementTrace(sql="UPDATE big SET a = 1 WHERE id < 10", duration_s=0.01, in_transaction=True),
        StatementTrace(sql="CREATE INDEX CONCURRENTLY ix ON big (a)", duration_s=0.01, in_transaction=False),
        StatementTrace(sql="COMMIT", duration_s=0.0, in_transaction=True, location="v/x.py:9"),
    )
    findings = check_step("x", StepResult(ok=True, duration_s=1, statements=traces))
    codes = [f.code for f in findings]
    assert "RH153" in codes and "RH103" not in codes and "RH158" in codes
    nesting = [f for f in findings if f.code == "RH157"]
    assert len(nesting) == 1 and nesting[0].location == "v/x.py:9"
