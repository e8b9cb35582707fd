"""Output of `rehearse lint`: a list of findings as text, json, sarif, gitlab or github.

``gitlab`` is GitLab's Code Quality report (``artifacts:reports:codequality``); ``github`` is
workflow commands (``::error file=...,line=...::``) that GitHub Actions turns into
annotations on the diff. Paths are made relative to the current directory (the repository
root in CI) so both can place the finding on the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from rehearse import model
from rehearse.errors import BadInput
from rehearse.report._common import RenderOptions, rule_url

LINT_FORMATS = ("text", "json", "sarif", "gitlab", "github")

_LOCATION = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")
GITLAB_SEVERITY = {"info": "info", "low": "minor", "medium": "major", "high": "critical", "critical": "blocker"}
GITHUB_LEVEL = {"info": "notice", "low": "notice", "medium": "warning", "high": "error", "critical": "error"}


def where(finding: model.Finding, root: Path | None = None) -> tuple[str | None, int | None, int | None]:
    """(path relative to root when inside it, line, column) of a finding's location."""
    if not finding.location:
        return None, None, None
    match = _LOCATION.match(finding.location)
    path, line, col = (match["path"], int(match["line"]), int(match["col"]) if match["col"] else None) \
        if match else (finding.location, None, None)
    root = (root or Path(os.getcwd())).resolve()
    p = Path(path)
    if p.is_absolute():
        try:
            path = p.resolve().relative_to(root).as_posix()
        except ValueError:
            pass
    return path, line, col


def render_lint(findings: list[model.Finding], fmt: str, *, options: RenderOptions | None = None,
                root: Path | None = None, tool_version: str = "") -> str:
    fmt = fmt.strip().lower()
    if fmt not in LINT_FORMATS:
        raise BadInput(f"unknown lint format {fmt!r}", hint=f"use one of: {', '.join(LINT_FORMATS)}")
    return {"text": _text, "json": _json, "sarif": _sarif, "gitlab": _gitlab, "github": _github}[fmt](
        findings, options or RenderOptions(), root, tool_version)


def _place(finding: model.Finding, root: Path | None) -> str:
    path, line, col = where(finding, root)
    if path is None:
        return finding.revision or "-"
    return ":".join(str(x) for x in (path, line, col) if x is not None)


def _text(findings, options, root, _version) -> str:
    lines = []
    for f in findings:
        rev = f" (revision {f.revision})" if f.revision and f.location else ""
        lines.append(f"{_place(f, root)}: {f.code} {f.name} [{f.severity}] {f.message}{rev}")
        if f.help:
            lines.append(f"    fix: {f.help} {rule_url(f.code, options)}")
    lines.append(f"{len(findings)} finding(s)")
    return "\n".join(lines) + "\n"


def _json(findings, options, root, _version) -> str:
    out = []
    for f in findings:
        data = model.to_dict(f)
        path, line, col = where(f, root)
        data.update(path=path, line=line, column=col, url=rule_url(f.code, options))
        out.append(data)
    return json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n"


def _sarif(findings, options, root, version) -> str:
    from rehearse.report.sarif import render_findings

    return render_findings(findings, options, root=root, tool_version=version)


def _fingerprint(f: model.Finding, path: str | None) -> str:
    # stable across runs and line moves: rule, file, revision, statement
    key = "\0".join(str(x) for x in (f.code, path, f.revision, f.statement))
    return hashlib.sha256(key.encode()).hexdigest()


def _gitlab(findings, options, root, _version) -> str:
    out = []
    for f in findings:
        path, line, _ = where(f, root)
        out.append({
            "description": f"{f.code} {f.name}: {f.message}",
            "check_name": f.code,
            "fingerprint": _fingerprint(f, path),
            "severity": GITLAB_SEVERITY.get(f.severity, "major"),
            "location": {"path": path or "alembic.ini", "lines": {"begin": line or 1}},
            "categories": ["Bug Risk"],
            "content": {"body": f"{f.help or ''} See {rule_url(f.code, options)}".strip()},
        })
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(findings, options, root, _version) -> str:
    lines = []
    for f in findings:
        path, line, col = where(f, root)
        props = []
        if path:
            props.append(f"file={_escape_property(path)}")
            if line:
                props.append(f"line={line}")
            if col:
                props.append(f"col={col}")
        props.append(f"title={_escape_property(f'{f.code} {f.name}')}")
        message = f.message + (f". Fix: {f.help}" if f.help else "") + f" ({rule_url(f.code, options)})"
        lines.append(f"::{GITHUB_LEVEL.get(f.severity, 'warning')} {','.join(props)}::{_escape_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")
