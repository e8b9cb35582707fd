"""`rehearse lint` on plain SQL and on revisions: syntax errors, locations, inline ignores, formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rehearse.checks import lint_sql
from rehearse.checks.lint import lint_paths, lint_project
from rehearse.cli import app
from rehearse.errors import BadInput

HERE = Path(__file__).resolve().parent
IGNORES = HERE / "projects" / "lint_ignores"


def codes_at(findings) -> set[tuple[str, str]]:
    return {(f.code, f.location) for f in findings}


def test_syntax_error_is_a_finding_and_linting_goes_on(tmp_path):
    sql = tmp_path / "m.sql"
    sql.write_text("CREATE TABLE n (a int);\nALTER TABLE t ADD COLUMNN b int;\n\n  CREATE INDEX ix ON t (a);\n")
    findings = lint_paths([sql])
    syntax = [f for f in findings if f.code == "RH100"]
    assert len(syntax) == 1
    assert syntax[0].location == f"{sql}:2:1"
    assert 'syntax error at or near "int" (line 2, column 29)' in syntax[0].message
    assert ("RH101", f"{sql}:4:3") in codes_at(findings)  # the statement after the error is still checked


def test_an_unknown_first_word_is_reported_not_dropped():
    assert "RH100" in [f.code for f in lint_sql("SELEC 1; CREATE INDEX ix ON t (a)")]


def test_statement_ignores_above_on_the_line_and_by_name():
    sql = ("-- rehearse-ignore: RH101\nCREATE INDEX a ON t (x);\n"
           "CREATE INDEX b ON t (x); -- rehearse-ignore: require-concurrent-index-creation\n"
           "CREATE INDEX c ON t (x);\n")
    lines = sorted(f.location for f in lint_sql(sql, location="f.sql") if f.code == "RH101")
    assert lines == ["f.sql:4:1"]


def test_a_bare_ignore_silences_the_statement_and_a_typo_silences_nothing():
    assert not lint_sql("-- rehearse-ignore\nCREATE INDEX a ON t (x)")
    codes = [f.code for f in lint_sql("-- rehearse-ignore: RH1O1\nCREATE INDEX a ON t (x)")]
    assert "RH101" in codes


def test_file_ignore_anywhere_covers_every_statement():
    sql = "CREATE INDEX a ON t (x);\nCREATE INDEX b ON t (y);\n-- rehearse-ignore-file: RH101, RH150\n"
    codes = {f.code for f in lint_sql(sql)}
    assert "RH101" not in codes and "RH150" not in codes and "RH151" in codes


def test_squawk_comments_are_honoured():
    sql = ("-- squawk-ignore ban-drop-column\nALTER TABLE t DROP COLUMN a;\n"
           "ALTER TABLE t DROP COLUMN b;\n")
    dropped = [f.location for f in lint_sql(sql, location="s.sql") if f.code == "RH115"]
    assert dropped == ["s.sql:3:1"]
    assert not [f for f in lint_sql("-- squawk-ignore-file require-timeout-settings\nCREATE INDEX a ON t (x)")
                if f.code in ("RH150", "RH151")]


def test_revision_findings_point_at_the_op_call_and_honour_python_comments():
    findings = [f for f in lint_project(IGNORES / "alembic.ini") if f.code in ("RH101", "RH115")]
    li01 = str(IGNORES / "versions" / "li01_indexes.py")
    li02 = str(IGNORES / "versions" / "li02_whole_file.py")
    assert codes_at(findings) == {
        ("RH101", f"{li01}:17:5"),  # ix_plain: no comment
        ("RH101", f"{li01}:23:5"),  # ix_multi_line: the line where the call starts
        ("RH101", f"{li02}:17:5"),  # the file ignores RH115 only
    }


def test_directories_and_bad_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.sql").write_text("CREATE INDEX ix ON t (a);")
    (tmp_path / "a.sql").write_text("ALTER TABLE t ALTER a DROP NOT NULL;")
    (tmp_path / "notes.txt").write_text("DROP TABLE t;")
    found = {(Path(f.location.split(":")[0]).name, f.code) for f in lint_paths([tmp_path])}
    assert ("a.sql", "RH160") in found and ("b.sql", "RH101") in found
    assert not any(name == "notes.txt" for name, _ in found)
    with pytest.raises(BadInput):
        lint_paths([tmp_path / "missing.sql"])
    with pytest.raises(BadInput):
        lint_paths([_empty(tmp_path)])


def run_cli(*args):
    return CliRunner().invoke(app, ["lint", *args])


@pytest.fixture
def migration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "001.sql").write_text("CREATE INDEX ix ON t (a);\nSELEC 1;\n")
    return Path("db")


def test_cli_text_and_exit_code(migration):
    result = run_cli(str(migration))
    assert result.exit_code == 1
    assert "db/001.sql:1:1: RH101 require-concurrent-index-creation [high]" in result.output
    assert "db/001.sql:2:1: RH100 require-valid-syntax [high]" in result.output
    assert "https://" in result.output  # the rule's page, absolute


def test_cli_github_annotations(migration):
    lines = run_cli(str(migration), "--format", "github").output.splitlines()
    assert lines and all(re.match(r"^::(error|warning|notice) file=db/001\.sql,line=\d+,col=\d+,title=RH\d{3} [a-z-]+::\S", l)
                         for l in lines)
    assert any(l.startswith("::error file=db/001.sql,line=2,col=1,title=RH100 ") for l in lines)


def test_cli_gitlab_code_quality(migration):
    issues = json.loads(run_cli(str(migration), "--format", "gitlab").output)
    assert issues and len({i["fingerprint"] for i in issues}) == len(issues)
    for issue in issues:
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert issue["location"]["path"] == "db/001.sql" and issue["location"]["lines"]["begin"] >= 1
        assert issue["check_name"].startswith("RH") and issue["description"]


def test_cli_sarif_and_json(migration, tmp_path):
    out = tmp_path / "lint.sarif"
    assert run_cli(str(migration), "--format", "sarif", "-o", str(out)).exit_code == 1
    sarif = json.loads(out.read_text())
    results = sarif["runs"][0]["results"]
    assert results and all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "db/001.sql"
                           for r in results)
    assert {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results} == {1, 2}
    data = json.loads(run_cli(str(migration), "--format", "json").output)
    assert {(d["path"], d["line"], d["code"]) for d in data} >= {("db/001.sql", 1, "RH101"), ("db/001.sql", 2, "RH100")}


def test_cli_bad_input_is_one_line(migration):
    for args in ([], ["--format", "xml", str(migration)], ["nowhere.sql"], [str(migration), "--fail-on", "huge"]):
        result = run_cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output


def _empty(tmp_path: Path) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_a_rehearsal_honours_the_same_python_comments():
    """`rehearse run` checks traced statements: their op call's comments silence them too."""
    from rehearse.checks import check_step
    from rehearse.model import StatementTrace, StepResult

    li01 = IGNORES / "versions" / "li01_indexes.py"
    traces = tuple(StatementTrace(sql=f"CREATE INDEX ix_{line} ON orders (a)", duration_s=0.01,
                                  location=f"{li01}:{line}") for line in (17, 18, 21))
    findings = check_step("li01", StepResult(ok=True, duration_s=0.1, statements=traces))
    assert [f.location for f in findings if f.code == "RH101"] == [f"{li01}:17"]


def test_the_squawk_comparison_page_matches_the_rules():
    """docs/lint-vs-squawk.md names, per Squawk rule, the codes whose references cover it today
    (regenerate with scripts/compare_squawk.py when a rule's references change)."""
    from rehearse.checks.ignores import squawk_codes

    page = (HERE.parent.parent / "docs" / "lint-vs-squawk.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1:3] for line in page.splitlines()
            if line.startswith("| ") and not line.startswith(("| Squawk", "| **all"))]
    assert len(rows) >= 35
    mapping = squawk_codes()
    for name, equivalents in rows:
        assert set(re.findall(r"\[(RH\d{3})\]", equivalents)) == mapping.get(name.strip(), set()), name


def test_a_named_config_or_python_file_is_refused_not_linted_as_sql(tmp_path):
    # seen as a new user: `rehearse lint alembic.ini` gave "RH100 syntax error at or near [" on line 1
    ini = tmp_path / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = versions\n")
    result = run_cli(str(ini))
    assert result.exit_code == 2 and "not SQL" in result.output and f"--alembic-ini {ini}" in result.output
    assert "RH100" not in result.output and "Traceback" not in result.output
    revision = tmp_path / "0001_init.py"
    revision.write_text("from alembic import op\n")
    result = run_cli(str(revision))
    assert result.exit_code == 2 and "Python" in result.output and "--alembic-ini" in result.output
    plain = tmp_path / "change.psql"  # any other suffix is still read as SQL
    plain.write_text("CREATE INDEX ix ON t (a);\n")
    assert "RH101" in run_cli(str(plain)).output
