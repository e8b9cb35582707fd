"""The terminal format: a rich summary table on a terminal, a list on anything else.

A CI log is not a terminal: rich would fit the table to 80 columns and cut cells with "…".
Without a TTY the summary is a list instead (one revision per block, every value whole,
long lines wrapped by the log viewer, never cut), so nothing a reader needs is lost.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rehearse import model
from rehearse.report._common import (RenderOptions, fmt_interval, fmt_s, live_findings, max_lock, plan_change_lines,
                                     query_lines, rollback_status, scale_note, scale_rows, scale_title, short_sql,
                                     step_status, version_title)

RISK_STYLE = {"low": "green", "medium": "yellow", "high": "dark_orange", "critical": "bold red"}
STEP_STYLE = {"ok": "green", "failed": "bold red", "skipped": "dim", "not-run": "dim"}
ROLLBACK_STYLE = {"reversible": "green", "not-run": "dim", "irreversible": "yellow", "missing": "yellow",
                  "broken": "bold red", "data-loss": "bold red"}


def _short_mode(mode: str) -> str:
    """AccessExclusiveLock -> ACCESS EXCLUSIVE, the spelling of the PostgreSQL docs."""
    words = "".join(f" {c}" if c.isupper() else c for c in mode.removesuffix("Lock")).split()
    return " ".join(words).upper()


def _bare(relation: str) -> str:
    return relation.removeprefix("public.")


def _table(report: model.Report) -> Table:
    table = Table(title=f"rehearse: {len(report.revisions)} revision(s) from {report.source}",
                  title_justify="left", show_lines=False)
    table.add_column("revision", no_wrap=True)
    table.add_column("message", overflow="fold", min_width=14, max_width=42)
    table.add_column("upgrade", justify="right", no_wrap=True)
    table.add_column("longest blocking lock", overflow="fold", min_width=12, max_width=34)
    table.add_column("rollback", no_wrap=True)
    table.add_column("findings", justify="right")
    table.add_column("risk", no_wrap=True)
    for rev in report.revisions:
        status = step_status(rev.upgrade)
        upgrade = Text(fmt_s(rev.upgrade.duration_s) if status == "ok" else status, style=STEP_STYLE[status])
        lock = max_lock(rev)
        lock_text = f"{fmt_s(lock[1])} {_short_mode(lock[0].mode)} {_bare(lock[0].relation)}" if lock else "-"
        rb = rollback_status(rev)
        live = live_findings(rev.findings)
        accepted = len(rev.findings) - len(live)
        findings = str(len(live)) + (f" (+{accepted} accepted)" if accepted else "")
        table.add_row(rev.id[:12], rev.message, upgrade, lock_text, Text(rb, style=ROLLBACK_STYLE.get(rb, "")),
                      findings, Text(rev.risk, style=RISK_STYLE.get(rev.risk, "")))
    return table


def _revision_lines(rev: model.RevisionResult) -> list[str]:
    status = step_status(rev.upgrade)
    lock = max_lock(rev)
    live = live_findings(rev.findings)
    accepted = len(rev.findings) - len(live)
    return [
        f"revision {rev.id}: {rev.message}",
        f"  risk: {rev.risk}",
        f"  upgrade: {fmt_s(rev.upgrade.duration_s) if status == 'ok' else status}",
        "  longest blocking lock: " + (f"{fmt_s(lock[1])} {_short_mode(lock[0].mode)} {lock[0].relation}"
                                       if lock else "-"),
        f"  rollback: {rollback_status(rev)}",
        f"  findings: {len(live)}" + (f" (+{accepted} accepted)" if accepted else ""),
    ]


def _rewrite_line(result: model.RewriteResult) -> str:
    """'rewrite 0007 concurrent-index: suggested; lock SHARE orders 2.10 s -> SHARE UPDATE EXCLUSIVE orders 0 ms'"""
    def lock(side: model.RewriteSide) -> str:
        if not side.lock_mode:
            return "no blocking lock"
        return f"{_short_mode(side.lock_mode)} {_bare(side.lock_relation or '?')} {fmt_s(side.lock_held_s)}"

    verdict = "suggested" if result.suggested else f"not suggested ({result.reason})"
    text = f"rewrite {result.revision[:12]} {', '.join(result.patterns)}: {verdict}"
    if result.original is not None and result.rewritten is not None:
        text += f"; lock {lock(result.original)} -> {lock(result.rewritten)}"
    return text + (f"; needs {result.releases} releases" if result.releases > 1 else "")


def _list(report: model.Report, console: Console) -> None:
    console.print(f"rehearse: {len(report.revisions)} revision(s) from {report.source}",
                  markup=False, highlight=False, soft_wrap=True)
    for rev in report.revisions:
        for line in _revision_lines(rev):
            console.print(line, markup=False, highlight=False, soft_wrap=True)


def _print(report: model.Report, console: Console, *, as_table: bool = True) -> None:
    if as_table:
        console.print(_table(report))
    else:
        _list(report, console)
    risky = [r for r in report.revisions if r.risk_reasons and r.risk != "low"]
    for rev in risky:
        console.print(Text.assemble((f"{rev.id[:12]} ", "bold"), (rev.risk, RISK_STYLE.get(rev.risk, "")),
                                    f"  {rev.message}"))
        for reason in rev.risk_reasons:
            console.print(f"  - {reason}", markup=False, highlight=False, soft_wrap=not as_table)
    for rewrite in report.rewrites:
        console.print(_rewrite_line(rewrite), markup=False, highlight=False, soft_wrap=True)
    for run in report.app_checks:
        result = "passed" if run.ok else "timed out" if run.timed_out else f"failed (exit {run.exit_code})"
        last = run.output_tail.strip().splitlines()[-1:] if not run.ok and run.output_tail.strip() else []
        console.print(f"app check {run.moment}: {run.command}: {result} in {fmt_s(run.duration_s)}"
                      + (f": {last[0][:160]}" if last else ""), markup=False, highlight=False, soft_wrap=True)
    if report.settings_change is not None:
        change = report.settings_change
        differs = [s for s in change.statements if s.differs]
        console.print(f"with {', '.join(f'{k}={v}' for k, v in change.settings.items())}: {len(differs)} of "
                      f"{len(change.statements)} upgrade statement(s) behave differently", markup=False,
                      highlight=False, soft_wrap=True)
        for s in differs[:8]:
            console.print(f"  {s.revision[:12]} {short_sql(s.sql, 60)}: {s.note}", markup=False, highlight=False,
                          soft_wrap=True)
        for line in plan_change_lines(change.plans, "without", "with"):
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if report.version_change is not None:
        version = report.version_change
        console.print(version_title(version), markup=False, highlight=False, soft_wrap=True)
        for s in [s for s in version.statements if s.differs][:8]:
            console.print(f"  {s.revision[:12]} {short_sql(s.sql, 60)}: {s.note}", markup=False, highlight=False,
                          soft_wrap=True)
        for when, plans in (("before the upgrade", version.plans_before_upgrade),
                            ("after the upgrade", version.plans_after_upgrade)):
            for line in plan_change_lines(plans, version.baseline_version, version.target_version):
                console.print(f"  {when}: {line}", markup=False, highlight=False, soft_wrap=True)
        for warning in version.warnings:
            console.print(f"  {warning}", markup=False, highlight=False, soft_wrap=True)
    if report.scale is not None:
        console.print(scale_title(report.scale) + ":", markup=False, highlight=False, soft_wrap=True)
        for p in scale_rows(report, limit=8):
            measured = f", measured {fmt_s(p.measured_s)}" if p.measured_s is not None else ""
            note = scale_note(p)
            low = f"  ({note})" if note else ""
            console.print(f"  {p.revision[:12]} {short_sql(p.sql, 60)}: {fmt_s(p.duration_s)}"
                          f"{fmt_interval(p.duration_low_s, p.duration_high_s)}, lock {fmt_s(p.lock_held_s)}"
                          f"{measured}{low}", markup=False, highlight=False, soft_wrap=not as_table)
    for finding in live_findings(report.findings):
        console.print(f"{finding.code} {finding.name} ({finding.severity}): {finding.message}",
                      markup=False, highlight=False, soft_wrap=not as_table)
    for line in query_lines(report):
        console.print(line, markup=False, highlight=False, soft_wrap=not as_table)
    for warning in report.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    outcome_style = "bold green" if report.outcome == "pass" else "bold red"
    console.print(Text.assemble("overall risk: ", (report.risk, RISK_STYLE.get(report.risk, "")),
                                "   outcome: ", (report.outcome, outcome_style),
                                f"   in {fmt_s(report.duration_s)}"))
    for failure in report.failures:
        console.print(f"  - {failure}", markup=False, highlight=False, soft_wrap=not as_table)


def render(report: model.Report, options: RenderOptions | None = None) -> str:
    """Plain text (no colour codes) at 120 columns, for files and tests."""
    buffer = io.StringIO()
    _print(report, Console(file=buffer, force_terminal=False, no_color=True, width=120, highlight=False))
    return buffer.getvalue()


def print_summary(report: model.Report, console: Console | None = None) -> None:
    """The summary for a person: the table on a terminal, the uncut list form otherwise (CI logs)."""
    console = console or Console(highlight=False)
    _print(report, console, as_table=console.is_terminal)
