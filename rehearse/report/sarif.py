"""The sarif format: SARIF 2.1.0 for code scanning (github/codeql-action/upload-sarif).

Each finding becomes a result located at the migration file and line that issued the
statement (``Finding.location`` "path:line"), falling back to its revision's file. Paths
are made relative to the repository (the current directory) so GitHub can annotate the
diff. Findings accepted by a baseline carry an external suppression with the reason, which
code scanning shows as dismissed rather than dropping them silently.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from rehearse import model
from rehearse.report._common import RenderOptions, rule_url

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/rehearse-dev/rehearse"

LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub orders alerts by security-severity (0-10) when present.
SECURITY_SEVERITY = {"critical": "9.5", "high": "7.5", "medium": "5.0", "low": "2.0", "info": "0.0"}

_LOCATION = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")


def _relative(path: str, root: Path) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.resolve().relative_to(root.resolve())
        except ValueError:
            return p.as_uri()  # outside the repository: keep it absolute, as a file URI
    return p.as_posix()


def _location(finding: model.Finding, files: dict[str, str | None], root: Path, fallback: str) -> dict:
    """Where code scanning shows the finding; always one (GitHub drops results without)."""
    path, line, col = None, None, None
    if finding.location:
        match = _LOCATION.match(finding.location)
        if match:
            path, line = match["path"], int(match["line"])
            col = int(match["col"]) if match["col"] else None
        else:
            path = finding.location
    if path is None and finding.revision:
        path = files.get(finding.revision)
    if path is None:
        path = fallback  # history-wide findings (graph, drift): the migrations' own file
    physical: dict = {"artifactLocation": {"uri": _relative(path, root)}}
    if not physical["artifactLocation"]["uri"].startswith("file:"):
        physical["artifactLocation"]["uriBaseId"] = "%SRCROOT%"
    physical["region"] = {"startLine": max(line or 1, 1)}
    if col:
        physical["region"]["startColumn"] = col
    return {"physicalLocation": physical}


def render(report: model.Report, options: RenderOptions | None = None, *, root: Path | None = None) -> str:
    files = {rev.id: rev.file for rev in report.revisions}
    fallback = next((f for f in files.values() if f), "alembic.ini")
    return render_findings(report.all_findings(), options, root=root, files=files, fallback=fallback,
                           tool_version=report.tool_version,
                           invocation={"risk": report.risk, "outcome": report.outcome},
                           properties={"source": report.source, "targetRevision": report.target_revision})


def render_findings(findings: list[model.Finding], options: RenderOptions | None = None, *,
                    root: Path | None = None, files: dict[str, str | None] | None = None,
                    fallback: str = "alembic.ini", tool_version: str = "", invocation: dict | None = None,
                    properties: dict | None = None) -> str:
    """SARIF for a list of findings (a rehearsal's, or `rehearse lint`'s)."""
    options = options or RenderOptions()
    root = root or Path(os.getcwd())
    files = files or {}

    rules: list[dict] = []
    index: dict[str, int] = {}
    for f in findings:
        if f.code in index:
            continue
        index[f.code] = len(rules)
        rule = {
            "id": f.code,
            "name": f.name,
            "shortDescription": {"text": f.name.replace("-", " ")},
            "helpUri": rule_url(f.code, options),
            "defaultConfiguration": {"level": LEVEL.get(f.severity, "warning")},
            "properties": {"security-severity": SECURITY_SEVERITY.get(f.severity, "5.0"),
                           "tags": ["migration", "postgresql"]},
        }
        if f.help:
            rule["help"] = {"text": f.help}
        rules.append(rule)

    results = []
    for f in findings:
        result: dict = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": LEVEL.get(f.severity, "warning"),
            "message": {"text": f.message + (f" Fix: {f.help}" if f.help else "")},
            "properties": {"severity": f.severity, "phase": f.phase},
        }
        result["locations"] = [_location(f, files, root, fallback)]
        if f.revision:
            result["properties"]["revision"] = f.revision
            # Stable across runs so code scanning tracks one alert per rule, revision and place.
            result["partialFingerprints"] = {"rehearseFinding/v1": f"{f.code}:{f.revision}:{f.location or ''}"}
        if f.statement:
            result["properties"]["statement"] = f.statement
        if f.evidence:
            result["properties"]["evidence"] = model.to_dict(f.evidence)
        if f.accepted:
            result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.accepted}]
        results.append(result)

    run = {
        "tool": {"driver": {"name": "rehearse", "version": tool_version or "0",
                            "semanticVersion": tool_version or "0.0.0",
                            "informationUri": INFORMATION_URI, "rules": rules}},
        "results": results,
        "invocations": [{"executionSuccessful": True, "properties": invocation or {}}],
        "properties": properties or {},
    }
    sarif = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(sarif, indent=2, ensure_ascii=False, default=str) + "\n"
