"""The CI integration docs stay true to the code: file names, CLI options, the hook."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from rehearse.report import FILE_NAMES, normalize_format

REPO = Path(__file__).resolve().parent.parent.parent
CI = REPO / "docs" / "ci"


def cli_options(command: str) -> set[str]:
    import typer

    from rehearse.cli import app

    click_app = typer.main.get_command(app)
    return {opt for p in click_app.commands[command].params for opt in (*p.opts, *p.secondary_opts)}


def rehearse_invocations(text: str) -> list[list[str]]:
    joined = re.sub(r"\\\n\s*", " ", text)
    calls = []
    for line in joined.splitlines():
        line = line.strip().lstrip("- ").strip()
        if line.startswith("rehearse run"):
            calls.append(shlex.split(line))
    return calls


def folded_scripts(doc) -> str:
    """All shell text in a parsed CI file (folded scalars joined back into lines)."""
    out: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            out.append(node)

    walk(doc)
    return "\n".join(out)


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_files_parse_and_use_real_options(name):
    doc = yaml.safe_load((CI / name).read_text(encoding="utf-8"))
    scripts = folded_scripts(doc)
    calls = rehearse_invocations(scripts)
    assert calls, f"{name} runs no `rehearse run`"
    known = cli_options("run")
    for call in calls:
        options = {arg for arg in call if arg.startswith("--")}
        assert options <= known, options - known
        assert {"--snapshot", "--alembic-ini", "--changed-since", "--fail-on", "--report-dir"} <= options
        formats = [call[i + 1] for i, arg in enumerate(call) if arg == "--format"]
        assert {normalize_format(f) for f in formats} == {"json", "markdown", "junit", "sarif", "html"}


def test_github_workflow_publishes_every_report():
    text = (CI / "github-actions.yml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    steps = doc["jobs"]["rehearse"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("github/codeql-action/upload-sarif") for u in uses)
    assert doc["permissions"]["security-events"] == "write" and doc["permissions"]["pull-requests"] == "write"
    assert doc[True]["pull_request"]["paths"][0].startswith("migrations")  # YAML 1.1 reads `on` as True
    for fmt in ("markdown", "sarif", "junit"):
        assert f"reports/{FILE_NAMES[fmt]}" in text
    last = steps[-1]
    assert "steps.rehearse.outcome" in last["if"] and "exit 1" in last["run"]


def test_gitlab_job_reports_junit():
    doc = yaml.safe_load((CI / "gitlab-ci.yml").read_text(encoding="utf-8"))
    job = doc["rehearse"]
    assert job["artifacts"]["reports"]["junit"] == f"reports/{FILE_NAMES['junit']}"
    assert job["artifacts"]["when"] == "always"


def test_pre_commit_hook():
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = {h["id"]: h for h in hooks}["rehearse-lint"]
    entry = shlex.split(hook["entry"])
    assert entry[:2] == ["rehearse", "lint"] and entry[2] == "--alembic-ini"
    assert "--alembic-ini" in cli_options("lint")
    assert hook["pass_filenames"] is False and hook["language"] == "python"
    re.compile(hook["files"])


def test_risk_doc_lists_every_threshold():
    import dataclasses

    from rehearse.risk import RiskThresholds

    text = (REPO / "docs" / "risk.md").read_text(encoding="utf-8")
    for f in dataclasses.fields(RiskThresholds):
        assert f"`{f.name}`" in text, f.name


_BARE_INSTALL = re.compile(r"\bpip[x3]?\s+install\b[^\n]*?(?<![\w@/-])rehearse(?![\w-])(?!\s*@)")


def _commands(path: Path) -> list[str]:
    """Lines a user would run: all of a CI file, the fenced code of a Markdown page."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".md":
        return text.splitlines()
    return [line for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M) for line in block.splitlines()]


@pytest.mark.parametrize("path", sorted([*CI.glob("*.yml"), *CI.glob("*.md"), REPO / "README.md"]),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_install_lines_install_this_project(path):
    """PyPI's `rehearse` is someone else's project: every install line names alembic-rehearse."""
    for line in _commands(path):
        if re.search(r"\bpip[x3]?\s+install\b", line) and "rehearse" in line:
            assert not _BARE_INSTALL.search(line), f"{path.name} installs PyPI's unrelated `rehearse`: {line}"
            assert "alembic-rehearse" in line or "-e ." in line, line


def test_bare_install_pattern_catches_the_old_line():
    assert _BARE_INSTALL.search("pip install -r requirements.txt rehearse")
    assert _BARE_INSTALL.search("pipx install rehearse")
    assert not _BARE_INSTALL.search('pip install "alembic-rehearse @ git+https://github.com/rehearse-dev/rehearse@abc"')


def test_distribution_name_is_not_the_taken_one():
    import tomllib

    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["name"] == "alembic-rehearse"
    assert meta["scripts"]["rehearse"] == "rehearse.cli:main"


@pytest.mark.parametrize("name, fmt", [("github-actions.yml", "github"), ("gitlab-ci.yml", "gitlab")])
def test_ci_files_lint_with_real_options(name, fmt):
    from rehearse.report.lint_formats import LINT_FORMATS

    scripts = folded_scripts(yaml.safe_load((CI / name).read_text(encoding="utf-8")))
    calls = [shlex.split(line.strip().lstrip("- ")) for line in scripts.splitlines()
             if line.strip().lstrip("- ").startswith("rehearse lint")]
    assert calls, f"{name} runs no `rehearse lint`"
    known = cli_options("lint")
    for call in calls:
        assert {a for a in call if a.startswith("-")} <= known
        assert call[call.index("--format") + 1] == fmt and fmt in LINT_FORMATS
