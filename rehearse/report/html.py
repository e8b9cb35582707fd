"""The html format: one self-contained page (inline CSS and JS, no network) per report.

For each revision it draws a timeline of the upgrade: statement durations, the span each
table lock was held (coloured by the traffic it blocks) and the time reads or writes to a
table were blocked; then the findings, the query shapes it breaks and the requests its locks
block at production's rates, the suggested rewrite, the statements and the rollback diffs.
After the revisions come the sections of the whole run: production's queries (where the shapes
came from, their plans), the application's checks, --scale, --setting and --target-version.
Each appears only when the report holds its data. The layout is computed here (percent
offsets), so the page reads fine without JavaScript; the script only adds filtering, search
and expand/collapse.
"""

from __future__ import annotations

import html as _html
from dataclasses import dataclass, field

import jinja2

from rehearse import model
from rehearse.report._common import (RenderOptions, app_check_result, blocks_a_request, calls_rate, capture_summary,
                                     fmt_interval, fmt_s, live_findings, lock_timeout_outcome, max_lock, plan_flags,
                                     plan_scans, rewrite_end_state, rewrite_shows_diff, rollback_status, rule_url,
                                     scale_note, scale_rows, scale_title, shape_latency, short_sql, sorted_findings,
                                     step_status, version_title)

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("rehearse.report", "templates"),
                          autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
_ENV.filters["dur"] = fmt_s
_ENV.filters["short_sql"] = short_sql
_ENV.filters["count"] = lambda n: f"{n:,.0f}"
_ENV.globals.update(plan_scans=plan_scans, shape_latency=shape_latency, plan_flags=plan_flags, calls_rate=calls_rate,
                    lock_timeout_outcome=lock_timeout_outcome, app_check_result=app_check_result,
                    interval=fmt_interval, scale_note=scale_note)

BREAKS_SHAPES = "RH410"  # require-old-queries-to-prepare: its evidence lists every broken shape
MOMENTS = {"after-step": "after this revision", "after-upgrade": "after the whole upgrade",
           "after-rollback": "after the rollback"}

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


def broken_shapes(findings) -> list[dict]:
    """The query shapes RH410 findings name, one row each: moment, query, tables, error, rate."""
    rows = []
    for f in findings:
        if f.code != BREAKS_SHAPES:
            continue
        moment = f.evidence.get("moment", f.phase)
        for shape in f.evidence.get("shapes", ()):
            rows.append({"moment": MOMENTS.get(moment, moment), "query": shape.get("query", ""),
                         "tables": shape.get("tables") or (), "error": shape.get("error") or "",
                         "rate": calls_rate(shape.get("calls_per_s")), "accepted": f.accepted})
    return rows


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """A unified diff's lines with a css class each (added, removed, hunk header, context)."""
    def kind(line: str) -> str:
        if line.startswith(("+++", "---")):
            return "diff-file"
        return {"+": "diff-added", "-": "diff-removed", "@": "diff-hunk"}.get(line[:1], "")
    return [(kind(line), line) for line in diff.rstrip().splitlines()]


def _revision_view(rev: model.RevisionResult, options: RenderOptions, report: model.Report) -> dict:
    lock = max_lock(rev)
    live = live_findings(rev.findings)
    downtime = [d for d in (report.queries.downtime if report.queries else ()) if d.revision == rev.id]
    rewrite = next((r for r in report.rewrites if r.revision == rev.id), None)
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
        "broken": broken_shapes(rev.findings),
        "downtime": [d for d in downtime if blocks_a_request(d)],
        "brief_locks": sum(1 for d in downtime if not blocks_a_request(d)),
        "rewrite": rewrite,
        "rewrite_same": rewrite_end_state(rewrite) if rewrite else None,
        "rewrite_diff": diff_lines(rewrite.diff) if rewrite and rewrite_shows_diff(rewrite) else [],
    }


def _queries_view(report: model.Report) -> dict | None:
    """Report.queries for the page: the capture, what breaks on the whole range, the plans."""
    q = report.queries
    if q is None:
        return None
    blocking = [d for d in q.downtime if blocks_a_request(d)]
    return {"q": q, "summary": capture_summary(q), "broken": broken_shapes(report.findings),
            "blocking": blocking, "brief_locks": len(q.downtime) - len(blocking),
            "blocking_revisions": list(dict.fromkeys(d.revision for d in blocking))}


def _scale_view(report: model.Report) -> dict | None:
    """Every statement whose cost grows with the data (Markdown keeps the slowest dozen)."""
    if report.scale is None:
        return None
    rows = scale_rows(report, limit=len(report.scale.predictions))
    return {"title": scale_title(report.scale), "rows": rows,
            "constant": len(report.scale.predictions) - len(rows)}


def _settings_view(change: model.SettingsComparison | None) -> dict | None:
    if change is None:
        return None
    differs = [s for s in change.statements if s.differs]
    return {"change": change, "differs": differs,
            "names": [f"{k}={v}" for k, v in change.settings.items()]}


def _version_view(change: model.VersionComparison | None) -> dict | None:
    if change is None:
        return None
    title = version_title(change)
    return {"change": change, "differs": [s for s in change.statements if s.differs],
            "title": title[:1].upper() + title[1:],
            "plans": [(when, plans) for when, plans in (("before the upgrade", change.plans_before_upgrade),
                                                        ("after the upgrade", change.plans_after_upgrade)) if plans]}


def render(report: model.Report, options: RenderOptions | None = None) -> str:
    options = options or RenderOptions()
    counts = {level: sum(1 for r in report.revisions if r.risk == level) for level in model.RISK_LEVELS}
    stages_total = sum(report.stages.values()) or 1.0
    stages = [(name, seconds, round(_pct(seconds, stages_total), 3)) for name, seconds in report.stages.items()]
    template = _ENV.get_template("report.html.j2")
    return template.render(
        report=report,
        revisions=[_revision_view(rev, options, report) for rev in report.revisions],
        queries=_queries_view(report),
        scale=_scale_view(report),
        settings=_settings_view(report.settings_change),
        version=_version_view(report.version_change),
        counts=counts,
        stages=stages,
        report_findings=[(f, rule_url(f.code, options)) for f in sorted_findings(report.findings)],
        levels=model.RISK_LEVELS,
        title=f"rehearse report: {report.risk} risk, {len(report.revisions)} revisions",
        esc=_html.escape,
    )
