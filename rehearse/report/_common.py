"""Helpers every renderer shares: options, rule-doc links, durations, step phases.

Renderers read only the Report; anything two of them compute the same way lives here so the
Markdown, HTML and terminal views never disagree about a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from rehearse import model
from rehearse.risk import level_rank

GITHUB_COMMENT_LIMIT = 65536  # characters GitHub accepts in one issue or PR comment


@dataclass(frozen=True)
class RenderOptions:
    """Knobs a renderer may read; every one has a default that works in a repository checkout.

    ``rules_base_url``: where rule pages live; ``None`` reads ``REHEARSE_RULES_URL`` and falls
    back to the pages in the project's repository (``DEFAULT_RULES_URL``): a PR comment or a
    CI log is read far from any checkout, so links are always absolute. A base URL gets
    ``/<code>.md`` appended unless it holds a ``{code}`` placeholder.
    ``fail_on``: the level from which JUnit marks a revision's checks as failed
    (defaults to ``high`` when no gate is set). ``max_chars``: Markdown size budget.
    """

    rules_base_url: str | None = None
    fail_on: str | None = None
    max_chars: int = GITHUB_COMMENT_LIMIT - 1536  # leave room for a bot's header/footer


DEFAULT_RULES_URL = "https://github.com/rehearse-dev/rehearse/blob/main/docs/rules"
RULES_URL_ENV = "REHEARSE_RULES_URL"


def rule_url(code: str, options: RenderOptions | None = None) -> str:
    """The absolute link of a rule's page (see ``RenderOptions.rules_base_url``)."""
    import os

    base = (options.rules_base_url if options else None) or os.environ.get(RULES_URL_ENV) or DEFAULT_RULES_URL
    if "{code}" in base:  # e.g. "https://docs.example.com/rules/{code}.html"
        return base.replace("{code}", code)
    return f"{base.rstrip('/')}/{code}.md"


def fmt_s(seconds: float | None) -> str:
    """Durations as people read them: 4 ms, 1.24 s, 21.4 s, 3 min 12 s."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"


def short_sql(sql: str, width: int = 90) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


PHASES = ("upgrade", "checks", "downgrade", "re-upgrade")


def steps(rev: model.RevisionResult) -> Iterator[tuple[str, model.StepResult | None]]:
    yield "upgrade", rev.upgrade
    yield "downgrade", rev.downgrade
    yield "re-upgrade", rev.reupgrade


def step_status(step: model.StepResult | None) -> str:
    """ok | failed | skipped | not-run"""
    if step is None:
        return "not-run"
    if step.skipped:
        return "skipped"
    return "ok" if step.ok else "failed"


def rollback_status(rev: model.RevisionResult) -> str:
    """A word for the rollback column: reversible, data-loss, broken, ... or not-run."""
    if rev.rollback is not None:
        if rev.rollback.classification == "reversible" and step_status(rev.downgrade) == "failed":
            return "broken"
        return rev.rollback.classification
    status = step_status(rev.downgrade)
    return {"ok": "reversible", "failed": "broken"}.get(status, "not-run")


_MODE_RANK = {mode: rank for rank, mode in enumerate(model.LOCK_MODES)}


def max_lock(rev: model.RevisionResult) -> tuple[model.LockTaken, float] | None:
    """The traffic-blocking lock held longest during the upgrade (lock, seconds).

    A statement's locks are all held until its commit, so several last about as long: among
    those within 10 % of the longest, the headline names the most restrictive mode, on a table
    (locks on tables carry a row count) rather than on one of its indexes.
    """
    held_locks = [(lock, lock.held_s if lock.held_s is not None else stmt.duration_s)
                  for stmt in rev.upgrade.statements for lock in stmt.locks
                  if lock.blocks_reads or lock.blocks_writes]
    if not held_locks:
        return None
    longest = max(held for _, held in held_locks)
    close = [(lock, held) for lock, held in held_locks if held >= 0.9 * longest]
    return max(close, key=lambda c: (_MODE_RANK.get(c[0].mode, 0), c[0].rows is not None, c[1]))


def live_findings(findings) -> list[model.Finding]:
    """Findings that count (not accepted by a baseline), worst first."""
    return sorted((f for f in findings if not f.accepted), key=lambda f: -model.severity_rank(f.severity))


def sorted_findings(findings) -> list[model.Finding]:
    """All findings, live ones first, worst first (stable otherwise)."""
    return sorted(findings, key=lambda f: (bool(f.accepted), -model.severity_rank(f.severity)))


def counts_by_risk(report: model.Report) -> dict[str, int]:
    counts = {level: 0 for level in model.RISK_LEVELS}
    for rev in report.revisions:
        counts[rev.risk if rev.risk in counts else "low"] += 1
    return counts


def is_risky(rev: model.RevisionResult) -> bool:
    return level_rank(rev.risk) >= 1 or step_status(rev.upgrade) == "failed"


RISK_EMOJI = {"low": "🟢", "medium": "🟡", "high": "🟠", "critical": "🔴"}


# --- production's query shapes (Report.queries) ---------------------------------------------------


def calls_rate(calls_per_s: float | None) -> str:
    return f"{calls_per_s * 60:,.0f} calls/min" if calls_per_s is not None else "rate unknown"


def capture_summary(q: model.QueryForecast) -> str:
    """Where the shapes came from and how many were kept: '4 shape(s) from pg_stat_statements over 3 s, ...'"""
    where = q.origin + (f" over {q.window_s:.0f} s" if q.window_s else "")
    return (f"{q.shapes} shape(s) from {where}"
            + (f", {q.dropped} not kept (literals left in, or not DML on tables)" if q.dropped else ""))


def blocks_a_request(d: model.DowntimeEstimate) -> bool:
    """A lock span long enough to block at least one request at production's rate (the others are counted)."""
    return d.reads_blocked + d.writes_blocked >= 1


def lock_timeout_outcome(d: model.DowntimeEstimate) -> str:
    if d.lock_timeout_s:
        return f"with lock_timeout={d.lock_timeout_s:g}s, {d.would_fail:,.0f} would fail"
    return "the source's lock_timeout is 0, so they wait rather than fail"


def downtime_line(d: model.DowntimeEstimate) -> str:
    """'at production's rate, 0006 blocks about 4,600 writes and 21,000 reads on customers for 1.8 s; ...'"""
    parts = []
    if d.write_shapes:
        parts.append(f"{d.writes_blocked:,.0f} writes")
    if d.read_shapes:
        parts.append(f"{d.reads_blocked:,.0f} reads")
    who = d.revision if d.step == "upgrade" else f"the downgrade of {d.revision}"
    text = (f"at production's rate, {who} blocks about {' and '.join(parts)} on {d.table} "
            f"for {d.window_s:.1f} s ({d.lock_mode}")
    text += f", {d.wait_s:.1f} s of it waiting for the lock)" if d.wait_s >= 0.05 else ")"
    return f"{text}; {lock_timeout_outcome(d)}"


def plan_scans(run: model.ShapeRun) -> str:
    """The plan's scan lines, one after the other (or why the shape failed)."""
    if not run.ok:
        return f"fails ({run.error})"
    lines = [line.strip() for line in run.plan.splitlines() if "Scan" in line]
    return ", ".join(lines) or (run.plan.splitlines()[0].strip() if run.plan else "?")


def shape_latency(run: model.ShapeRun) -> str:
    return f"{run.latency_ms:.2f} ms" if run.latency_ms is not None else "not timed"


def plan_flags(p: model.PlanComparison) -> list[str]:
    """What got worse: a lost index, a new sequential scan, a corroborated slow-down (empty: nothing)."""
    flags = [f"loses {', '.join(p.lost_indexes)}"] if p.lost_indexes else []
    flags += [f"new sequential scan on {', '.join(p.new_seq_scans)}"] if p.new_seq_scans else []
    return flags + (["slower, with a changed or costlier plan"] if p.slower else [])


def plan_differs(p: model.PlanComparison) -> bool:
    """Worth a line when two configurations are compared: the plan changed, or got worse."""
    return p.plan_changed or bool(plan_flags(p))


def plan_line(p: model.PlanComparison) -> str:
    """'SELECT ... (120 calls/min): Index Scan using ix -> Seq Scan on orders; 0.05 ms -> 3.10 ms, estimated cost 8 -> 540'"""
    flags = plan_flags(p)
    cost = (f", estimated cost {p.before.cost:,.0f} -> {p.after.cost:,.0f}"
            if p.before.cost is not None and p.after.cost is not None else "")
    return (f"{short_sql(p.query, 80)} ({calls_rate(p.calls_per_s)}): {plan_scans(p.before)} -> "
            f"{plan_scans(p.after)}; {shape_latency(p.before)} -> {shape_latency(p.after)}{cost}"
            + (f" [{'; '.join(flags)}]" if flags else ""))


def plan_change_lines(plans: tuple[model.PlanComparison, ...], without: str, with_: str) -> list[str]:
    """--setting / --target-version: the compared shapes whose plan changed (or lost an index, or got
    slower), then one line of totals; ``without``/``with_`` name the two sides."""
    if not plans:
        return []
    changed = [p for p in plans if plan_differs(p)]
    lines = [f"plan ({without} -> {with_}): {plan_line(p)}" for p in changed]
    return lines + [f"plans compared for {len(plans)} of the busiest shape(s); {len(plans) - len(changed)} unchanged"]


def version_title(change: model.VersionComparison) -> str:
    differs = sum(1 for s in change.statements if s.differs)
    return (f"on PostgreSQL {change.target_version} (staging: {change.baseline_version}): {differs} of "
            f"{len(change.statements)} upgrade statement(s) behave differently")


def query_lines(report: model.Report) -> list[str]:
    """What production's traffic would see, one line each (empty when the report predates it)."""
    q = report.queries
    if q is None:
        return []
    if not q.checked:
        return [f"production queries: not checked ({q.note or 'no query shapes'})"]
    lines = [f"production queries: {capture_summary(q)}"]
    if q.note:
        lines.append(f"  {q.note}")
    shown = [d for d in q.downtime if blocks_a_request(d)]
    lines += [f"  {downtime_line(d)}" for d in shown]
    if len(shown) < len(q.downtime):
        lines.append(f"  {len(q.downtime) - len(shown)} more blocking lock(s) last too briefly to block one request "
                     "at production's rate")
    if not q.downtime and not q.note:
        lines.append("  no measured lock blocks a captured shape")
    lines += [f"  plan: {plan_line(p)}" for p in q.plans if plan_flags(p)]
    unchanged = sum(1 for p in q.plans if not plan_flags(p))
    if q.plans:
        lines.append(f"  plans compared for {len(q.plans)} of the busiest shape(s); {unchanged} unchanged")
    return lines


def scale_rows(report: model.Report, limit: int = 12) -> list[model.ScalePrediction]:
    """The --scale predictions worth a line: statements whose cost grows with the data, slowest first."""
    if report.scale is None:
        return []
    grows = [p for p in report.scale.predictions if p.model != "constant"]
    return sorted(grows, key=lambda p: -p.duration_s)[:limit]


def fmt_interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f" ({fmt_s(low)}–{fmt_s(high)})"


def scale_title(scale: model.ScaleResult) -> str:
    sizes = ", ".join(f"{f * 100:g}%" for f in scale.fractions)
    where = ("the source's size (pg_class)" if scale.target == "source"
             else "the snapshot's full size (also measured below)")
    return f"Predicted at {where}, from subsets of {sizes}"


def scale_note(p: model.ScalePrediction) -> str:
    """Why a prediction is low confidence, and how a parallel index build was accounted for."""
    notes = []
    if p.parallel_speedup is not None:
        notes.append(f"built with {p.parallel_workers} parallel worker{'s' if p.parallel_workers != 1 else ''}: "
                     f"{p.parallel_speedup:.2f}x faster than alone on the largest subset")
    if p.low_confidence:
        notes.append("low confidence: " + "; ".join(p.reasons))
    return "; ".join(notes)


# --- the application's own checks, rewrites -----------------------------------------------------


def app_check_result(run: model.AppCheckRun) -> str:
    """passed | timed out | exit N"""
    return "passed" if run.ok else "timed out" if run.timed_out else f"exit {run.exit_code}"


def rewrite_end_state(result: model.RewriteResult) -> str:
    """same | differs | – (not rehearsed): the rewrite's end schema and data against the original's."""
    if result.schema_equal and result.data_equal:
        return "same"
    return "differs" if result.schema_equal is not None else "–"


def rewrite_shows_diff(result: model.RewriteResult) -> bool:
    """The patch is worth showing when it is suggested, or when it could not be rehearsed at all."""
    return bool(result.diff) and (result.suggested or result.original is None)
