"""The risk model: one level per revision (low, medium, high, critical), with its reasons.

A revision's level is the worst level any of these rules gives it; its reasons list every
rule that fired at medium or above, worst first. The report's level is the worst revision's,
raised further by report-wide findings (graph, drift) and by a failed whole-range rollback.

Rules (thresholds are fields of ``RiskThresholds``; defaults in brackets):

Steps
  * the upgrade failed .......................................... critical
    (the deploy would stop half-way; production is left at an unknown revision)
  * the downgrade failed, or the rollback is ``broken``, or it is ``data-loss`` of data that
    existed before the upgrade ........................................ critical
    (the escape hatch does not work, or using it destroys data)
  * the rollback throws away only values the upgrade wrote (a new column's default or
    backfill, ``RollbackResult.discarded``) ............................ low (information)
    (the data that existed before the upgrade is back; what goes is what the upgrade added)
  * the upgrade changed existing values of a column that the downgrade leaves alone (a data
    migration, a trigger's ``updated_at``; ``RollbackResult.one_way``) ............ medium
    (not the downgrade's loss, but rolling back does not give the old values back)
  * the rollback is ``irreversible`` or ``missing`` ............... high
    (there is no way back short of restoring a backup)
  * the re-upgrade after the downgrade failed ..................... high
    (the downgrade left residue: rolling forward again after an incident breaks)

Locks, measured on the rehearsal copy (``LockTaken`` of every upgrade statement)
  A lock "blocks traffic" when it blocks writes (SHARE and stronger) or reads (ACCESS
  EXCLUSIVE). A table is "large" when it had at least ``large_table_rows`` [100,000] rows
  or ``large_table_bytes`` [100 MiB]: lock mode and size do not vary between runs. A measured
  duration counts against a limit only when it exceeds it by ``duration_noise`` [25 %], so a
  hold that sits near a limit gives the same level on every run of the same snapshot.
  * a lock blocking reads on a large table held >= ``critical_lock_s`` [60 s] ..... critical
  * a lock blocking traffic on a large table held >= ``high_lock_s`` [5 s] ........ high
  * a lock blocking traffic on any table held >= ``medium_lock_s`` [1 s] .......... medium
  * a large table is rewritten (its relfilenode changed) .......................... high
  * a small table is rewritten ..................................................... medium
  * any single statement runs >= ``slow_statement_s`` [60 s], whatever it locks ... medium
    (long deploys hold up the release train and time out in CI/CD runners)

Traffic, measured when the rehearsal ran a --traffic workload (``StepResult.blocked_traffic``)
  * a read or write query waited >= ``critical_lock_s`` ................................ critical
  * a query waited >= ``high_lock_s`` ................................................... high
  * a query waited >= ``medium_lock_s`` ................................................. medium
    (measured waits need no table-size guess: this is what users would have felt)
  * a statement would have failed under --lock-timeout (``would_fail_lock_timeout``) .... medium
    (the deploy aborts unless the migration retries)

Findings (checks)
  * a finding of severity critical / high / medium raises the level to the same level;
    low and info findings add no risk. A finding about the downgrade (its locks, its rewrites)
    raises it to medium at most: that cost is paid only when rolling back. A finding ``accepted`` by a baseline file adds no risk
    (it is still shown in reports, marked as accepted).

Where it stops being right: lock times are measured on a copy without production traffic,
so they are a lower bound (under load a lock must first wait for running transactions);
table sizes come from the snapshot, which may be smaller than production if it was sampled.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

from rehearse import model
from rehearse.config import RiskThresholds
from rehearse.errors import BadInput

LEVELS = model.RISK_LEVELS  # ("low", "medium", "high", "critical"), in order


def level_rank(level: str) -> int:
    """0 for low ... 3 for critical; unknown levels count as low."""
    return LEVELS.index(level) if level in LEVELS else 0


def worst(levels: Iterable[str]) -> str:
    return max(levels, key=level_rank, default="low")


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def _size(lock: model.LockTaken) -> str:
    parts = []
    if lock.rows is not None:
        parts.append(f"{lock.rows:,} rows")
    if lock.bytes is not None:
        parts.append(_human_bytes(lock.bytes))
    return f" ({', '.join(parts)})" if parts else ""


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def is_large(lock: model.LockTaken, t: RiskThresholds) -> bool:
    return ((lock.rows is not None and lock.rows >= t.large_table_rows)
            or (lock.bytes is not None and lock.bytes >= t.large_table_bytes))


def _blocks(lock: model.LockTaken) -> str | None:
    if lock.blocks_reads:
        return "blocks reads and writes"
    if lock.blocks_writes:
        return "blocks writes"
    return None


def _statement_rules(stmt: model.StatementTrace, t: RiskThresholds,
                     sizes: Mapping[str, model.LockTaken]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for lock in stmt.locks:
        blocking = _blocks(lock)
        held = lock.held_s if lock.held_s is not None else stmt.duration_s
        if blocking is None:
            continue
        what = f"{lock.mode} on {lock.relation}{_size(lock)} held {_fmt_s(held)} ({blocking})"
        large = is_large(lock, t)
        # durations count only when beyond the limit by the noise margin (t.exceeds): the same
        # snapshot must give the same level on every run
        if large and lock.blocks_reads and t.exceeds(held, t.critical_lock_s):
            out.append(("critical", f"{what}; limit for a large table {_fmt_s(t.critical_lock_s)}"))
        elif large and t.exceeds(held, t.high_lock_s):
            out.append(("high", f"{what}; limit for a large table {_fmt_s(t.high_lock_s)}"))
        elif t.exceeds(held, t.medium_lock_s):
            out.append(("medium", f"{what}; limit {_fmt_s(t.medium_lock_s)}"))
    for relation in stmt.rewrites:
        known = sizes.get(relation)
        if known is not None and is_large(known, t):
            out.append(("high", f"rewrites large table {relation}{_size(known)}: "
                                "every row is copied under an ACCESS EXCLUSIVE lock"))
        else:
            size = _size(known) if known is not None else ""
            out.append(("medium", f"rewrites table {relation}{size}"))
    if t.exceeds(stmt.duration_s, t.slow_statement_s):
        first = " ".join(stmt.sql.split())[:60]
        out.append(("medium", f"statement runs {_fmt_s(stmt.duration_s)} "
                              f"(limit {_fmt_s(t.slow_statement_s)}): {first}"))
    return out


def _traffic_rules(step: model.StepResult, t: RiskThresholds) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for b in getattr(step, "blocked_traffic", ()):
        what = (f"{b.kind} queries on {b.table} waited up to {_fmt_s(b.blocked_s)}"
                + (f" ({b.queries} queries, {_fmt_s(b.total_blocked_s)} in all)" if b.queries else "")
                + (f" behind {b.blocker_lock_mode}" if b.blocker_lock_mode else ""))
        if t.exceeds(b.blocked_s, t.critical_lock_s):
            out.append(("critical", f"{what}; limit {_fmt_s(t.critical_lock_s)}"))
        elif t.exceeds(b.blocked_s, t.high_lock_s):
            out.append(("high", f"{what}; limit {_fmt_s(t.high_lock_s)}"))
        elif t.exceeds(b.blocked_s, t.medium_lock_s):
            out.append(("medium", f"{what}; limit {_fmt_s(t.medium_lock_s)}"))
    for sql in getattr(step, "would_fail_lock_timeout", ()):
        out.append(("medium", f"would fail under --lock-timeout: {' '.join(sql.split())[:80]}"))
    return out


def _finding_rule(finding: model.Finding) -> tuple[str, str] | None:
    if finding.accepted or finding.severity not in ("medium", "high", "critical"):
        return None
    if finding.phase == "downgrade":
        # what a downgrade costs (a rewrite, a lock) is paid only when rolling back: the rollback's
        # risk, shown, but it does not make the upgrade high or critical
        return "medium", f"if rolled back: {finding.code} {finding.name}: {finding.message}"
    return finding.severity, f"{finding.code} {finding.name}: {finding.message}"


def _rollback_rules(rev: model.RevisionResult) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if rev.downgrade is not None and not rev.downgrade.ok and not rev.downgrade.skipped:
        out.append(("critical", f"downgrade failed: {_first_line(rev.downgrade.error)}"))
    rb = rev.rollback
    if rb is not None:
        kind = rb.classification
        if rb.discarded:
            # the database is back as it was; what rolling back throws away is what the upgrade
            # itself wrote (a new column's default or backfill): information, not a loss
            out.append(("low", f"rolling back discards values the upgrade wrote: {rb.discarded[0].message}"
                               + (f" (+{len(rb.discarded) - 1} more)" if len(rb.discarded) > 1 else "")))
        if rb.one_way:
            out.append(("medium", f"the upgrade changes existing data one way: {rb.one_way[0].message}"))
        if kind == "data-loss" and rb.ok:
            first = rb.data_diff[0].message if rb.data_diff else "values written by the upgrade"
            out.append(("high", f"rolling back discards data written since the upgrade: {first}"))
        elif kind == "data-loss":
            tables = ", ".join(dict.fromkeys(d.table for d in rb.data_diff)) or "some tables"
            out.append(("critical", f"rollback loses data that existed before the upgrade in {tables}"))
        elif kind == "broken" and not any(level == "critical" for level, _ in out):
            out.append(("critical", f"rollback does not restore the schema "
                                    f"({len(rb.schema_diff)} difference(s))"))
        elif kind == "irreversible" and rb.schema_diff:
            out.append(("high", f"the downgrade does not restore the schema: {rb.schema_diff[0].message}"
                                + (f" (+{len(rb.schema_diff) - 1} more)" if len(rb.schema_diff) > 1 else "")))
        elif kind == "irreversible":
            out.append(("high", "no way back: the downgrade is declared irreversible"))
        elif kind == "missing":
            out.append(("high", "no way back: the downgrade is empty"))
    if rev.reupgrade is not None and not rev.reupgrade.ok and not rev.reupgrade.skipped:
        out.append(("high", f"re-upgrade after the downgrade failed: {_first_line(rev.reupgrade.error)}"))
    return out


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0][:200] if lines else "no error message"


def assess_revision(rev: model.RevisionResult, thresholds: RiskThresholds | None = None
                    ) -> tuple[str, tuple[str, ...]]:
    """(level, reasons) of one revision; reasons are worst first, each prefixed by its level."""
    t = thresholds or RiskThresholds()
    rules: list[tuple[str, str]] = []
    if rev.not_rehearsed:
        rules.append(("low", rev.not_rehearsed))  # another revision's failure, not this one's
    if not rev.upgrade.ok and not rev.upgrade.skipped:
        rules.append(("critical", f"upgrade failed: {_first_line(rev.upgrade.error)}"))
    # A rewrite's table size comes from the locks the same revision took on that table.
    sizes: dict[str, model.LockTaken] = {}
    for stmt in rev.upgrade.statements:
        for lock in stmt.locks:
            if lock.rows is not None or lock.bytes is not None:
                sizes.setdefault(lock.relation, lock)
    for stmt in rev.upgrade.statements:
        rules.extend(_statement_rules(stmt, t, sizes))
    rules.extend(_traffic_rules(rev.upgrade, t))
    rules.extend(_rollback_rules(rev))
    for finding in rev.findings:
        rule = _finding_rule(finding)
        if rule:
            rules.append(rule)
    level = worst(level for level, _ in rules)
    ordered = sorted(rules, key=lambda r: -level_rank(r[0]))  # stable: same-level rules keep order
    reasons: list[str] = []
    for lvl, text in ordered:
        line = f"{lvl}: {text}"
        if line not in reasons:
            reasons.append(line)
    return level, tuple(reasons)


def assess(report: model.Report, *, thresholds: RiskThresholds | None = None) -> model.Report:
    """A new Report with every revision's risk/risk_reasons and the overall risk set."""
    t = thresholds or RiskThresholds()
    revisions = []
    for rev in report.revisions:
        level, reasons = assess_revision(rev, t)
        revisions.append(dataclasses.replace(rev, risk=level, risk_reasons=reasons))
    overall = [r.risk for r in revisions]
    overall.extend(rule[0] for rule in map(_finding_rule, report.findings) if rule)
    rb = report.rollback
    if rb is not None and (not rb.ok and rb.classification not in ("not-run",)):
        overall.append("critical" if rb.classification in ("broken", "data-loss") or rb.error else "high")
    return dataclasses.replace(report, revisions=tuple(revisions), risk=worst(overall))


def check_level(level: str | None) -> str | None:
    """The level itself, or BadInput naming the valid ones (for --fail-on)."""
    if level is None or level in LEVELS:
        return level
    if str(level).lower() in LEVELS:
        return str(level).lower()
    if str(level).lower() in ("none", "never", "off"):
        return None
    raise BadInput(f"unknown risk level {level!r} for --fail-on",
                   hint=f"use one of: {', '.join(LEVELS)} (or none)")


def gate(report: model.Report, fail_on: str | None) -> bool:
    """True when the gate trips: some revision (or the report) reaches ``fail_on``.

    ``fail_on=None`` never trips. The CLI exits 1 when this returns True.
    """
    level = check_level(fail_on)
    if level is None:
        return False
    if report.scope:  # --changed-since: old revisions must not fail every pull request
        reached = worst([r.risk for r in report.revisions if r.id in report.scope] or ["low"])
    else:
        reached = worst([report.risk, *(r.risk for r in report.revisions)])
    return level_rank(reached) >= level_rank(level)


def gate_reasons(report: model.Report, fail_on: str | None) -> list[str]:
    """One line per revision that reaches ``fail_on`` (for the CLI's failure message)."""
    level = check_level(fail_on)
    if level is None:
        return []
    return [f"{r.id} ({r.message}): {r.risk}" for r in report.revisions
            if level_rank(r.risk) >= level_rank(level) and (not report.scope or r.id in report.scope)]
