"""The html format: one self-contained page (inline CSS and JS, no network) per report.

For each revision it draws a timeline of the upgrade: statement durations, the span each
table lock was held (coloured by the traffic it blocks) and the time reads or writes to a
table were blocked; then the findings, the statements and the rollback diffs. The layout is
computed here (percent offsets), so the page reads fine without JavaScript; the script only
adds filtering, search and expand/collapse.
"""

from __future__ import annotations

import html as _html
from dataclasses import dataclass, field

import jinja2

from rehearse import model
from rehearse.report._common import (RenderOptions, fmt_s, live_findings, max_lock, rollback_status, rule_url,
                                     short_sql, sorted_findings, step_status)

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("rehearse.report", "templates"),
                          autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
_ENV.filters["dur"] = fmt_s
_ENV.filters["short_sql"] = short_sql

MIN_WIDTH = 0.4  # percent: even a 1 ms lock stays visible on a 20 s axis


@dataclass
class Bar:
    left: float  # percent of the axis
    width: float
    label: str
    tip: str
    kind: str  # css class: stmt, stmt-failed, lock-rw, lock-w, lock-none


@dataclass
class Lane:
    name: str
    bars: list[Bar] = field(default_factory=list)
    note: str = ""


def _pct(value: float, total: float) -> float:
    return 0.0 if total <= 0 else max(0.0, min(100.0, value / total * 100.0))


def _bar(start: float, length: float, total: float, label: str, tip: str, kind: str) -> Bar:
    left = _pct(start, total)
    width = max(MIN_WIDTH, _pct(length, total))
    left = min(left, 100.0 - width)
    return Bar(round(left, 3), round(width, 3), label, tip, kind)


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def timeline(step: model.StepResult) -> dict:
    """Lanes for one step: statements, one lane per locked table, one for blocked traffic."""
    starts, t = [], 0.0
    for stmt in step.statements:
        starts.append(t)
        t += stmt.duration_s
    # Locks are held until commit, so the axis runs to the end of the longest hold.
    total = max([t, step.duration_s] + [s + (lk.held_s or 0.0) for s, st in zip(starts, step.statements)
                                        for lk in st.locks]) or 1.0
    statements = Lane("statements")
    tables: dict[str, Lane] = {}
    blocked: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for start, stmt in zip(starts, step.statements):
        kind = "stmt" if stmt.ok else "stmt-failed"
        statements.bars.append(_bar(start, stmt.duration_s, total, fmt_s(stmt.duration_s),
                                    f"{fmt_s(stmt.duration_s)}: {short_sql(stmt.sql, 200)}", kind))
        for lk in stmt.locks:
            held = lk.held_s if lk.held_s is not None else stmt.duration_s
            kind = "lock-rw" if lk.blocks_reads else "lock-w" if lk.blocks_writes else "lock-none"
            blocks = ("blocks reads and writes" if lk.blocks_reads else
                      "blocks writes" if lk.blocks_writes else "blocks neither reads nor writes")
            # One lane per table and mode: a weak lock held longer must not hide a strong one.
            lane = tables.setdefault(f"{lk.relation}\0{lk.mode}", Lane(lk.relation))
            lane.bars.append(_bar(start, held, total, lk.mode.removesuffix("Lock"),
                                  f"{lk.mode} on {lk.relation} held {fmt_s(held)} ({blocks})", kind))
            spans = blocked.setdefault(lk.relation, {"reads": [], "writes": []})
            if lk.blocks_writes or lk.blocks_reads:
                spans["writes"].append((start, start + held))
            if lk.blocks_reads:
                spans["reads"].append((start, start + held))
    strength = {mode: i for i, mode in enumerate(model.LOCK_MODES)}
    ordered = sorted(tables.items(), key=lambda kv: (kv[0].split("\0")[0],
                                                     -strength.get(kv[0].split("\0")[1], -1)))
    traffic = []
    for relation, spans in blocked.items():
        for what in ("writes", "reads"):
            merged = _merge(spans[what])
            seconds = sum(end - start for start, end in merged)
            if seconds <= 0:
                continue
            lane = Lane(f"{what} to {relation}", note="blocked")
            for start, end in merged:
                lane.bars.append(_bar(start, end - start, total, f"{what} blocked {fmt_s(end - start)}",
                                      f"{what} to {relation} blocked for {fmt_s(end - start)}",
                                      "blocked-r" if what == "reads" else "blocked-w"))
            traffic.append((seconds, lane))
    traffic.sort(key=lambda pair: -pair[0])
    ticks = _ticks(total)
    return {"total": total, "statements": statements, "tables": [lane for _, lane in ordered],
            "traffic": [lane for _, lane in traffic], "ticks": [(round(_pct(x, total), 3), fmt_s(x)) for x in ticks]}


def _ticks(total: float) -> list[float]:
    for step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600,
                 1800, 3600):
        if total / step <= 6:
            return [i * step for i in range(int(total / step) + 1)]
    return [0.0, total]


def _revision_view(rev: model.RevisionResult, options: RenderOptions) -> dict:
    lock = max_lock(rev)
    live = live_findings(rev.findings)
    return {
        "rev": rev,
        "anchor": f"rev-{rev.id}",
        "upgrade_status": step_status(rev.upgrade),
        "downgrade_status": step_status(rev.downgrade),
        "reupgrade_status": step_status(rev.reupgrade),
        "rollback_status": rollback_status(rev),
        "lock": lock,
        "live_count": len(live),
        "accepted_count": len(rev.findings) - len(live),
        "findings": [(f, rule_url(f.code, options)) for f in sorted_findings(rev.findings)],
        "timeline": timeline(rev.upgrade) if rev.upgrade.statements else None,
        "down_timeline": timeline(rev.downgrade) if rev.downgrade and rev.downgrade.statements else None,
    }


def render(report: model.Report, options: RenderOptions | None = None) -> str:
    options = options or RenderOptions()
    counts = {level: sum(1 for r in report.revisions if r.risk == level) for level in model.RISK_LEVELS}
    stages_total = sum(report.stages.values()) or 1.0
    stages = [(name, seconds, round(_pct(seconds, stages_total), 3)) for name, seconds in report.stages.items()]
    template = _ENV.get_template("report.html.j2")
    return template.render(
        report=report,
        revisions=[_revision_view(rev, options) for rev in report.revisions],
        counts=counts,
        stages=stages,
        report_findings=[(f, rule_url(f.code, options)) for f in sorted_findings(report.findings)],
        levels=model.RISK_LEVELS,
        title=f"rehearse report: {report.risk} risk, {len(report.revisions)} revisions",
        esc=_html.escape,
    )
