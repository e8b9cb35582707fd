"""The markdown format: a PR comment (GitHub-flavoured), one collapsible section per revision.

GitHub rejects comments over 65,536 characters, so the renderer works to a budget
(``RenderOptions.max_chars``) and degrades in steps rather than being cut off mid-table:
  1. everything: the summary table and a <details> section per revision;
  2. sections only for revisions that carry risk (medium and up, or a failure), worst first,
     until the budget is used; the rest are counted in a note;
  3. the table lists only risky revisions and counts the low-risk rest in one line.
The full story is always in report.html / report.json, which the note points to.
"""

from __future__ import annotations

import html
import re

from rehearse import model
from rehearse.report._common import (RISK_EMOJI, RenderOptions, app_check_result, fmt_interval, fmt_s, is_risky,
                                     live_findings, max_lock, plan_change_lines, query_lines, rewrite_end_state,
                                     rewrite_shows_diff, rollback_status, rule_url, scale_note, scale_rows,
                                     scale_title, short_sql, sorted_findings, step_status, version_title)
from rehearse.risk import level_rank

MAX_STATEMENTS = 8  # per revision section: the slowest ones; the HTML report has all of them

SEVERITY_EMOJI = {"info": "ℹ️", "low": "🟢", "medium": "🟡", "high": "🟠", "critical": "🔴"}
STEP_EMOJI = {"ok": "✅", "failed": "❌", "skipped": "⏭️", "not-run": "➖"}
ROLLBACK_EMOJI = {"reversible": "✅", "not-run": "➖", "irreversible": "⚠️", "missing": "⚠️", "broken": "❌",
                  "data-loss": "❌"}


# What Markdown interprets mid-line; < > & are HTML-escaped instead.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")


def cell(text: object) -> str:
    """Quoted text made inert: no raw HTML, no emphasis, links or code from it, no pipes or newlines.

    Safe in a table cell and in running text alike: what a revision message, an error or a
    finding quotes is shown as written, never interpreted as Markdown or HTML.
    """
    flat = " ".join(str(text).split())
    return html.escape(_MARKDOWN_PUNCTUATION.sub(r"\\\1", flat), quote=False)


def code(text: str) -> str:
    """An inline code span that survives any run of backticks and pipes in the text."""
    text = " ".join(text.split()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith(" ") or text.endswith(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def block(text: str) -> list[str]:
    """A fenced code block longer than any backtick fence inside the text (so it cannot close early)."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return [fence, text, fence]


def _header(report: model.Report) -> list[str]:
    emoji = RISK_EMOJI.get(report.risk, "")
    n = len(report.revisions)
    lines = [f"## {emoji} rehearse: **{report.risk}** risk, outcome **{report.outcome}**", ""]
    first = report.revisions[0].id if report.revisions else report.start_revision
    span = f"{code(report.start_revision or 'base')} → {code(report.target_revision or (first or 'head'))}"
    lines.append(f"{n} revision{'s' if n != 1 else ''} ({span}) rehearsed on {code(report.snapshot or report.source)} "
                 f"({report.staging} staging) in {fmt_s(report.duration_s)}.")
    counts = {level: sum(1 for r in report.revisions if r.risk == level) for level in model.RISK_LEVELS}
    summary = ", ".join(f"{RISK_EMOJI[level]} {counts[level]} {level}" for level in reversed(model.RISK_LEVELS)
                        if counts[level])
    if summary:
        lines.append(f"Risk by revision: {summary}.")
    lines.append("")
    if report.failures:
        lines.append("**Why the rehearsal fails**")
        lines.append("")
        lines.extend(f"- {cell(f)}" for f in report.failures)
        lines.append("")
    return lines


TABLE_HEAD = ["| | revision | message | upgrade | longest blocking lock | rollback | findings | risk |",
              "|---|---|---|---:|---|---|---:|---|"]


def _row(rev: model.RevisionResult) -> str:
    status = step_status(rev.upgrade)
    upgrade = fmt_s(rev.upgrade.duration_s) if status == "ok" else f"{STEP_EMOJI[status]} {status}"
    lock = max_lock(rev)
    lock_text = f"{fmt_s(lock[1])} {cell(lock[0].mode)} on {code(lock[0].relation)}" if lock else "–"
    rb = rollback_status(rev)
    live = live_findings(rev.findings)
    accepted = len(rev.findings) - len(live)
    findings = f"{len(live)}" + (f" (+{accepted} accepted)" if accepted else "")
    return (f"| {RISK_EMOJI.get(rev.risk, '')} | {code(rev.id[:12])} | {cell(rev.message)} | {upgrade} | "
            f"{lock_text} | {ROLLBACK_EMOJI.get(rb, '')} {rb} | {findings} | **{rev.risk}** |")


def _finding_line(f: model.Finding, options: RenderOptions) -> list[str]:
    where = f" at {code(f.location)}" if f.location else ""
    accepted = f" — *accepted: {cell(f.accepted)}*" if f.accepted else ""
    lines = [f"- {SEVERITY_EMOJI.get(f.severity, '')} **[{f.code} {f.name}]({rule_url(f.code, options)})** "
             f"({f.severity}){where}: {cell(f.message)}{accepted}"]
    if f.evidence:
        evidence = ", ".join(f"{k}={v}" for k, v in f.evidence.items())
        lines.append(f"  <br>evidence: {code(evidence[:300])}")
    if f.help:
        lines.append(f"  <br>fix: {cell(f.help)}")
    return lines


def _section(rev: model.RevisionResult, options: RenderOptions,
             rewrite: model.RewriteResult | None = None) -> str:
    emoji = RISK_EMOJI.get(rev.risk, "")
    summary = (f"{emoji} <b>{html.escape(rev.id[:12])}</b> {html.escape(rev.message)} — "
               f"<b>{html.escape(rev.risk)}</b>")
    out = ["<details>", f"<summary>{summary}</summary>", ""]
    if rev.file:
        out += [f"File: {code(rev.file)}", ""]
    if rev.risk_reasons:
        out += ["**Why this risk**", ""] + [f"- {cell(r)}" for r in rev.risk_reasons] + [""]
    if rev.findings:
        out += ["**Findings**", ""]
        for f in sorted_findings(rev.findings):
            out += _finding_line(f, options)
        out.append("")
    out += _rewrite_lines(rev, rewrite)
    stmts = rev.upgrade.statements
    if stmts:
        shown = sorted(stmts, key=lambda s: -s.duration_s)[:MAX_STATEMENTS]
        shown = [s for s in stmts if s in shown]  # keep execution order
        more = f", the {len(shown)} slowest shown" if len(shown) < len(stmts) else ""
        out += [f"**Upgrade statements** ({len(stmts)}, {fmt_s(rev.upgrade.duration_s)}{more})", "",
                "| duration | statement | locks | rewrites |", "|---:|---|---|---|"]
        for s in shown:
            locks = "<br>".join(f"{cell(l.mode)} {code(l.relation)}"
                                + (f" {fmt_s(l.held_s)}" if l.held_s is not None else "")
                                for l in s.locks) or "–"
            rewrites = ", ".join(code(r) for r in s.rewrites) or "–"
            mark = "" if s.ok else "❌ "
            out.append(f"| {fmt_s(s.duration_s)} | {mark}{code(short_sql(s.sql, 100))} | {locks} | {rewrites} |")
        out.append("")
    traffic = getattr(rev.upgrade, "blocked_traffic", ())
    if traffic:
        out += ["**Blocked traffic** (measured with the --traffic workload)", ""]
        for b in traffic:
            by = f" behind {cell(b.blocker_lock_mode)}" if b.blocker_lock_mode else ""
            out.append(f"- {b.queries} {cell(b.kind)} quer{'y' if b.queries == 1 else 'ies'} on {code(b.table)} "
                       f"waited up to {fmt_s(b.blocked_s)} ({fmt_s(b.total_blocked_s)} in all){by}")
        out.append("")
    for sql in getattr(rev.upgrade, "would_fail_lock_timeout", ()):
        out += [f"⏱️ Would fail under `--lock-timeout`: {code(short_sql(sql, 100))}", ""]
    if not rev.upgrade.ok and rev.upgrade.error:
        out += ["**Upgrade error**", "", *block(rev.upgrade.error.strip()[:1500]), ""]
    out += _rollback_lines(rev)
    out += ["</details>", ""]
    return "\n".join(out)


def _rewrite_lines(rev: model.RevisionResult, result: model.RewriteResult | None) -> list[str]:
    """The safe rewrite under the findings it answers (`--suggest-rewrites`), side by side."""
    if result is None:
        return []
    verdict = "✅ **Suggested rewrite**" if result.suggested else "➖ **Rewrite not suggested**"
    out = [f"{verdict} ({', '.join(code(p) for p in result.patterns)}): {cell(result.reason)}", ""]
    if result.releases > 1:
        out += [f"⚠️ This needs more than one release: {result.releases} revisions, deployed in turn.", ""]
    if result.original and result.rewritten:
        def side(s: model.RewriteSide) -> str:
            lock = f"{cell(s.lock_mode)} {code(s.lock_relation or '')}" if s.lock_mode else "none"
            blocked = fmt_s(s.blocked_s) if s.blocked_s is not None else "–"
            return f"{lock} | {fmt_s(s.lock_held_s)} | {blocked} | {fmt_s(s.duration_s)}"
        same = rewrite_end_state(result)
        out += ["| | longest blocking lock | held | traffic waited | duration | end schema + data |",
                "|---|---|---:|---:|---:|---|",
                f"| original | {side(result.original)} | |",
                f"| rewrite | {side(result.rewritten)} | {same} |", ""]
    if rewrite_shows_diff(result):
        out += ["<details><summary>diff</summary>", "", "```diff", result.diff.rstrip()[:6000], "```", "",
                "</details>", ""]
    return out


def _rollback_lines(rev: model.RevisionResult) -> list[str]:
    rb = rollback_status(rev)
    down, re_up = step_status(rev.downgrade), step_status(rev.reupgrade)
    out = [f"**Rollback**: {ROLLBACK_EMOJI.get(rb, '')} {rb} (downgrade {down}, re-upgrade {re_up})", ""]
    if rev.downgrade is not None and rev.downgrade.error:
        out += [*block(rev.downgrade.error.strip()[:1500]), ""]
    if rev.rollback and rev.rollback.schema_diff:
        out += ["| schema object | change | before | after |", "|---|---|---|---|"]
        for d in rev.rollback.schema_diff:
            out.append(f"| {code(d.object)} | {cell(d.kind)} | {code(d.before) if d.before else '–'} | "
                       f"{code(d.after) if d.after else '–'} |")
        out.append("")
    if rev.rollback and rev.rollback.data_diff:
        out += ["| table | rows before | rows after | columns changed | |", "|---|---:|---:|---|---|"]
        for d in rev.rollback.data_diff:
            after = f"{d.rows_after:,}" if d.rows_after is not None else "–"
            cols = ", ".join(code(c) for c in d.columns_changed) or "–"
            out.append(f"| {code(d.table)} | {d.rows_before:,} | {after} | {cols} | {cell(d.message)} |")
        out.append("")
    if rev.reupgrade is not None and not rev.reupgrade.ok and not rev.reupgrade.skipped and rev.reupgrade.error:
        out += ["Re-upgrade error:", "", *block(rev.reupgrade.error.strip()[:800]), ""]
    return out


def _report_findings(report: model.Report, options: RenderOptions) -> list[str]:
    if not report.findings:
        return []
    out = ["**Findings on the whole migration history**", ""]
    for f in sorted_findings(report.findings):
        out += _finding_line(f, options)
    return out + [""]


def _queries(report: model.Report) -> list[str]:
    """Production's traffic against this migration (Report.queries): downtime, plans."""
    lines = query_lines(report)
    if not lines:
        return []
    head, *rest = lines
    return ["**Production's queries** · " + cell(head.split(": ", 1)[1]), ""] + \
        [f"- {cell(line.strip())}" for line in rest] + [""]


def _scale_lines(report: model.Report) -> list[str]:
    """--scale: each growing statement's predicted duration and lock hold at the full size."""
    rows = scale_rows(report)
    if report.scale is None:
        return []
    out = [f"**{cell(scale_title(report.scale))}**", "",
           "| revision | statement | class | rows | duration (95% interval) | lock held | measured | note |",
           "|---|---|---|---:|---:|---:|---:|---|"]
    for p in rows:
        note = scale_note(p)
        out.append(f"| {cell(p.revision)} | {code(short_sql(p.sql, 70))} | {p.operation} | {p.target_rows:,} | "
                   f"{fmt_s(p.duration_s)}{fmt_interval(p.duration_low_s, p.duration_high_s)} | "
                   f"{fmt_s(p.lock_held_s)} | {fmt_s(p.measured_s) if p.measured_s is not None else '–'} | "
                   f"{cell(note)} |")
    if not rows:
        out.append("| – | no statement's cost grows with the data | | | | | | |")
    return out + [""]


def _app_check_lines(report: model.Report) -> list[str]:
    """--app-check: each run's result, duration and the tail of its output."""
    if not report.app_checks:
        return []
    out = ["**The application's own checks (--app-check)**", "",
           "| moment | command | result | duration |", "|---|---|---|---:|"]
    for run in report.app_checks:
        emoji = "✅" if run.ok else "⏱️" if run.timed_out else "❌"
        out.append(f"| {run.moment} | {code(run.command)} | {emoji} {app_check_result(run)} | "
                   f"{fmt_s(run.duration_s)} |")
    for run in report.app_checks:
        if run.output_tail.strip():
            out += ["", f"<details><summary>{html.escape(run.moment)}: {html.escape(run.command)}</summary>", ""]
            out += block(run.output_tail) + ["", "</details>"]
    return out + [""]


def _settings_lines(report: model.Report) -> list[str]:
    """--setting: the statements that behave differently with the configuration change."""
    change = report.settings_change
    if change is None:
        return []
    names = ", ".join(f"{code(f'{k}={v}')}" for k, v in change.settings.items())
    differs = [s for s in change.statements if s.differs]
    out = [f"**With {names}: {len(differs)} of {len(change.statements)} upgrade statement(s) behave differently**", ""]
    if differs:
        out += ["| revision | statement | without | with | note |", "|---|---|---:|---:|---|"]
        for s in differs:
            out.append(f"| {cell(s.revision)} | {code(short_sql(s.sql, 70))} | "
                       f"{fmt_s(s.baseline_s) if s.baseline_s is not None else '–'} | "
                       f"{fmt_s(s.changed_s) if s.changed_s is not None else '–'} | {cell(s.note)} |")
    plan_lines = plan_change_lines(change.plans, "without", "with")
    if plan_lines:
        out += [""] + [f"- {cell(line)}" for line in plan_lines]
    return out + [""]


def _version_lines(report: model.Report) -> list[str]:
    """--target-version: the statements and query plans that behave differently on the other version."""
    change = report.version_change
    if change is None:
        return []
    b, t = change.baseline_version, change.target_version
    differs = [s for s in change.statements if s.differs]
    out = [f"**{cell(version_title(change)[0].upper() + version_title(change)[1:])}**", ""]
    if differs:
        out += [f"| revision | statement | {cell(b)} | {cell(t)} | note |", "|---|---|---:|---:|---|"]
        for s in differs:
            def side(ok: bool, secs: float | None) -> str:
                return "–" if secs is None else fmt_s(secs) + ("" if ok else " ❌")
            out.append(f"| {cell(s.revision)} | {code(short_sql(s.sql, 70))} | {side(s.baseline_ok, s.baseline_s)} | "
                       f"{side(s.target_ok, s.target_s)} | {cell(s.note)} |")
    for when, plans in (("before the upgrade", change.plans_before_upgrade),
                        ("after the upgrade", change.plans_after_upgrade)):
        lines = plan_change_lines(plans, b, t)
        if lines:
            out += ["", f"Query plans {when}:", ""] + [f"- {cell(line)}" for line in lines]
    if change.warnings:
        out += [""] + [f"- {cell(w)}" for w in change.warnings]
    return out + [""]


def _footer(report: model.Report) -> list[str]:
    out = _queries(report)
    if report.warnings:
        out += ["**Warnings**", ""] + [f"- {cell(w)}" for w in report.warnings] + [""]
    version = f" {report.tool_version}" if report.tool_version else ""
    out.append(f"<sub>rehearse{version} · report format {report.format_version}"
               + (f" · started {cell(report.started_at)}" if report.started_at else "") + "</sub>")
    return out


def _n(text: str) -> int:
    """Size as GitHub counts it (UTF-16 code units: an emoji can count twice)."""
    return len(text.encode("utf-16-le")) // 2


def render(report: model.Report, options: RenderOptions | None = None) -> str:
    options = options or RenderOptions()
    budget = options.max_chars
    head = "\n".join(_header(report)) + "\n"
    tail = "\n".join(_settings_lines(report) + _version_lines(report) + _app_check_lines(report) + _scale_lines(report) + _report_findings(report, options) + _footer(report)) + "\n"

    revisions = list(report.revisions)
    full_table = "\n".join(TABLE_HEAD + [_row(r) for r in revisions]) + "\n\n"
    table = full_table
    if _n(head) + _n(table) + _n(tail) > budget * 0.6:
        # Step 3: the table lists risky revisions only; the low-risk rest is one line.
        risky = [r for r in revisions if is_risky(r)]
        quiet = len(revisions) - len(risky)
        rows = [_row(r) for r in risky]
        note = f"\n{quiet} low-risk revision(s) with no failure are not listed.\n\n" if quiet else "\n\n"
        while rows and _n(head) + _n("\n".join(TABLE_HEAD + rows)) + _n(tail) > budget * 0.6:
            rows.pop()
        cut = len(risky) - len(rows)
        if cut:
            note = (f"\n{cut} more risky revision(s) and {quiet} low-risk revision(s) are not listed; "
                    "see report.html.\n\n")
        table = "\n".join(TABLE_HEAD + rows) + note

    rewrites = {r.revision: r for r in report.rewrites}
    sections = [(rev, _section(rev, options, rewrites.get(rev.id))) for rev in revisions]
    used = _n(head) + _n(table) + _n(tail)
    if used + sum(_n(s) for _, s in sections) <= budget:
        body = "".join(s for _, s in sections)
        return head + table + body + "\n" + tail

    # Step 2: sections only for risky revisions, worst first, until the budget is used.
    candidates = sorted((pair for pair in sections if is_risky(pair[0])),
                        key=lambda pair: -level_rank(pair[0].risk))
    reserve = 200  # for the note below
    chosen: set[str] = set()
    for rev, text in candidates:
        if used + _n(text) + reserve > budget:
            continue
        chosen.add(rev.id)
        used += _n(text)
    body = "".join(text for rev, text in sections if rev.id in chosen)  # in revision order
    left = len(revisions) - len(chosen)
    note = (f"Details shown for {len(chosen)} of {len(revisions)} revisions (the riskiest); "
            f"{left} more are in report.html and report.json.\n\n")
    return head + table + note + body + "\n" + tail
