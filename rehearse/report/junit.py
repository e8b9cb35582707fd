"""The junit format: one testcase per revision and phase (upgrade, checks, downgrade, re-upgrade).

CI systems (GitLab merge-request widgets, GitHub test-report actions, Jenkins) show JUnit
XML natively, so a failed downgrade shows up where people already look for failed tests.
A revision's ``checks`` testcase fails when its risk reaches the gate level (``--fail-on``,
``high`` when none is set) and lists the reasons; a phase that did not run is skipped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from rehearse import model
from rehearse.report._common import RenderOptions, live_findings, step_status
from rehearse.risk import check_level, level_rank

DEFAULT_CHECKS_LEVEL = "high"
BAD_ROLLBACKS = ("broken", "data-loss", "irreversible", "missing")
# XML 1.0 cannot carry most control characters; a server error message may contain them.
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _time(seconds: float | None) -> str:
    return f"{(seconds or 0.0):.3f}"


def _step_case(suite: ET.Element, classname: str, phase: str, step: model.StepResult | None) -> ET.Element:
    case = ET.SubElement(suite, "testcase", classname=classname, name=phase,
                         time=_time(step.duration_s if step else 0.0))
    status = step_status(step)
    if status == "failed":
        first = (step.error or "failed").strip().splitlines()[0] if (step.error or "").strip() else "failed"
        failure = ET.SubElement(case, "failure", message=f"{phase} failed: {first}"[:500], type=f"{phase}-failed")
        details = [step.error or ""]
        if step.failed_statement:
            details.append(f"statement: {step.failed_statement}")
        failure.text = "\n".join(d for d in details if d)
    elif status in ("skipped", "not-run"):
        why = "not attempted: an earlier step failed" if status == "skipped" else "not run in this rehearsal"
        ET.SubElement(case, "skipped", message=why)
    return case


def render(report: model.Report, options: RenderOptions | None = None) -> str:
    options = options or RenderOptions()
    gate = check_level(options.fail_on) or DEFAULT_CHECKS_LEVEL
    root = ET.Element("testsuites", name="rehearse")
    suite = ET.SubElement(root, "testsuite", name=f"rehearse {report.source}", timestamp=report.started_at or "",
                          time=_time(report.duration_s))
    props = ET.SubElement(suite, "properties")
    for name, value in (("risk", report.risk), ("outcome", report.outcome), ("fail_on", gate),
                        ("target_revision", report.target_revision or ""), ("tool_version", report.tool_version)):
        ET.SubElement(props, "property", name=name, value=str(value))

    for rev in report.revisions:
        classname = f"{rev.id} {rev.message}".strip()
        _step_case(suite, classname, "upgrade", rev.upgrade)

        checks = ET.SubElement(suite, "testcase", classname=classname, name="checks", time="0.000")
        if level_rank(rev.risk) >= level_rank(gate):
            failure = ET.SubElement(checks, "failure", type=f"risk-{rev.risk}",
                                    message=f"risk {rev.risk} reaches {gate}: "
                                            + (rev.risk_reasons[0] if rev.risk_reasons else "see the report"))
            failure.text = "\n".join(rev.risk_reasons)
        lines = [f"{f.code} {f.name} ({f.severity}) {f.location or ''}: {f.message}" for f in live_findings(rev.findings)]
        lines += [f"{f.code} {f.name} accepted ({f.accepted}): {f.message}" for f in rev.findings if f.accepted]
        if lines:
            ET.SubElement(checks, "system-out").text = "\n".join(lines)

        down = _step_case(suite, classname, "downgrade", rev.downgrade)
        rb = rev.rollback
        diffs = []
        if rb is not None:
            diffs = [f"{d.kind}: {d.object}: {d.message}" for d in rb.schema_diff]
            diffs += [f"data: {d.table}: {d.message}" for d in rb.data_diff]
        failure = down.find("failure")
        if failure is not None:
            failure.text = "\n".join(t for t in [failure.text or "", *diffs] if t)
        elif rb is not None and rb.classification in BAD_ROLLBACKS:
            skipped = down.find("skipped")
            if skipped is not None:
                down.remove(skipped)
            ET.SubElement(down, "failure", type=f"rollback-{rb.classification}",
                          message=f"rollback is {rb.classification}" + (f": {diffs[0]}" if diffs else "")
                          ).text = "\n".join(diffs)
        _step_case(suite, classname, "re-upgrade", rev.reupgrade)

    if report.findings:
        case = ET.SubElement(suite, "testcase", classname="migration history", name="checks", time="0.000")
        live = [f for f in live_findings(report.findings) if level_rank(_as_level(f.severity)) >= level_rank(gate)]
        if live:
            failure = ET.SubElement(case, "failure", type="finding",
                                    message=f"{live[0].code} {live[0].name}: {live[0].message}"[:500])
            failure.text = "\n".join(f"{f.code} {f.name} ({f.severity}): {f.message}" for f in live)
        ET.SubElement(case, "system-out").text = "\n".join(
            f"{f.code} {f.name} ({f.severity}): {f.message}" for f in report.findings)

    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", "0")
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, suite.get(key))
    root.set("time", suite.get("time"))
    for element in root.iter():
        if element.text:
            element.text = _XML_BAD.sub("?", element.text)
        for key, value in element.attrib.items():
            element.set(key, _XML_BAD.sub("?", value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _as_level(severity: str) -> str:
    return severity if severity in model.RISK_LEVELS else "low"
