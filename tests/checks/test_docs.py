"""Docs cover the code: every rule has identity, documentation sections and test cases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from rehearse.checks import all_rules, get_rule, render_rule_doc
from rehearse.errors import BadInput
from rehearse.model import SEVERITIES

HERE = Path(__file__).parent
CODE = re.compile(r"^RH\d{3}$")
NAME = re.compile(r"^(require|ban|prefer|avoid|limit|split|note|declare|match|hold)-[a-z0-9-]+$")


def test_registry_is_large_enough_and_unique():
    rules = all_rules()
    assert len(rules) >= 50
    assert len({r.code for r in rules}) == len(rules)
    assert len({r.name for r in rules}) == len(rules)
    assert len(all_rules("sql")) >= 35


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_is_documented(rule):
    assert CODE.match(rule.code)
    assert NAME.match(rule.name), f"{rule.name} should start with a verb"
    assert rule.severity in SEVERITIES
    assert rule.summary.strip()
    for section in (rule.problem, rule.solution, rule.alembic):
        assert len(section.strip()) > 20
    page = render_rule_doc(rule)
    assert page.startswith(f"# {rule.code} {rule.name}")
    for title in ("## Problem", "## Solution", "## In Alembic"):
        assert title in page


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_has_cases(rule):
    path = HERE / "cases" / f"{rule.code}.yaml"
    assert path.exists(), f"{rule.code} has no case file"
    data = yaml.safe_load(path.read_text())
    assert data["kind"] == rule.kind
    if "tested_by" in data:
        for ref in data["tested_by"]:
            file, _, func = ref.partition("::")
            assert f"def {func}(" in (HERE / file).read_text(), f"{ref} does not exist"
    else:
        assert data.get("pass") and data.get("fail"), f"{rule.code} needs passing and failing cases"


def test_get_rule_by_code_or_name():
    assert get_rule("rh101").name == "require-concurrent-index-creation"
    assert get_rule("ban-drop-column").code == "RH115"
    with pytest.raises(BadInput):
        get_rule("RH999")


def test_docs_pages_are_current():
    """docs/rules/ is generated from the rules: regenerate with `python -m rehearse.checks.docs`."""
    pages = HERE.parent.parent / "docs" / "rules"
    for rule in all_rules():
        page = pages / f"{rule.code}.md"
        assert page.exists() and page.read_text() == render_rule_doc(rule), f"{page} is stale"
