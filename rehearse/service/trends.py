"""What the target and compare pages show, as data: trends per revision across rehearsals, and the
difference between two rehearsals. The pages draw it (charts.py); the API returns it as it is.
"""

from __future__ import annotations

from typing import Any

from ..config import RiskThresholds, SettingsFile, Thresholds, beyond_noise

# A change smaller than this is never "changed", whatever the ratio: 2 ms against 1 ms is noise
MIN_CHANGE_S = 0.1


def thresholds_of(target: dict) -> tuple[Thresholds, RiskThresholds]:
    """The target's stored thresholds read as rehearse.yaml's ``thresholds:`` section (defaults if invalid)."""
    try:
        section = SettingsFile.model_validate({"thresholds": target.get("thresholds") or {}}).thresholds
        return section.checks, section.risk
    except Exception:  # stored before validation existed, or hand-edited: the budget lines fall back to defaults
        return Thresholds(), RiskThresholds()


def trends(target: dict, history: list[dict]) -> dict[str, Any]:
    """Per revision, one point per rehearsal: duration, longest blocking lock, and duration against table size."""
    checks, risk = thresholds_of(target)
    duration: dict[str, list[dict]] = {}
    lock: dict[str, list[dict]] = {}
    by_size: list[dict] = []
    data_size: list[dict] = []
    for reh in history:
        if reh.get("data_rows") is not None:
            data_size.append({"rehearsal": reh["rehearsal"], "at": reh["at"], "rows": reh["data_rows"]})
        for rev in reh["revisions"]:
            if rev.get("duration_s") is None:
                continue  # not rehearsed (an earlier revision failed)
            point = {"rehearsal": reh["rehearsal"], "at": reh["at"], "ref": reh.get("ref")}
            duration.setdefault(rev["revision"], []).append({**point, "value": rev["duration_s"]})
            lock.setdefault(rev["revision"], []).append({**point, "value": rev.get("longest_lock_s") or 0})
            if rev.get("table_rows") is not None:
                by_size.append({**point, "revision": rev["revision"], "table_rows": rev["table_rows"],
                                "table_bytes": rev.get("table_bytes"), "duration_s": rev["duration_s"]})
    return {
        "target": target["name"],
        "budgets": {
            "duration_s": {"statement_s (finding)": checks.statement_s, "slow_statement_s (risk)": risk.slow_statement_s},
            "lock_s": {"lock_held_s (finding)": checks.lock_held_s, "medium_lock_s (risk)": risk.medium_lock_s,
                       "high_lock_s (risk)": risk.high_lock_s},
        },
        "duration_s": duration, "longest_lock_s": lock, "duration_by_table_rows": by_size, "data_rows": data_size,
    }


def _finding_key(f: dict) -> tuple:
    return (f.get("code"), f.get("revision"), f.get("phase"), f.get("statement") or f.get("message"))


def _findings(report: dict) -> dict[tuple, dict]:
    found = list(report.get("findings") or [])
    for rev in report.get("revisions") or []:
        found.extend(rev.get("findings") or [])
    return {_finding_key(f): f for f in found}


def compare(a: dict, b: dict, target: dict) -> dict[str, Any]:
    """Findings new in ``b`` or resolved since ``a``, and revisions whose duration or lock changed beyond noise.

    The noise margin is the target's ``duration_noise`` (25 % by default, as the risk model uses),
    applied with ``config.beyond_noise`` both ways, and a change under ``MIN_CHANGE_S`` never counts.
    """
    from .store import revision_measures

    _, risk = thresholds_of(target)
    noise = risk.duration_noise
    fa, fb = _findings(a), _findings(b)
    slim = lambda f: {k: f.get(k) for k in ("code", "name", "severity", "message", "revision")}  # noqa: E731
    ma = {r["revision"]: r for r in revision_measures(a)}
    mb = {r["revision"]: r for r in revision_measures(b)}
    changed = []
    for rev in [r for r in mb if r in ma]:
        for measure in ("duration_s", "longest_lock_s"):
            before, after = ma[rev].get(measure) or 0.0, mb[rev].get(measure) or 0.0
            if abs(after - before) < MIN_CHANGE_S:
                continue
            if beyond_noise(after, before, noise) or beyond_noise(before, after, noise):
                changed.append({"revision": rev, "measure": measure, "a": before, "b": after,
                                "change": "slower" if after > before else "faster"})
    return {
        "noise": noise, "min_change_s": MIN_CHANGE_S,
        "new_findings": [slim(fb[k]) for k in fb if k not in fa],
        "resolved_findings": [slim(fa[k]) for k in fa if k not in fb],
        "changed": changed,
        "only_in_a": [r for r in ma if r not in mb], "only_in_b": [r for r in mb if r not in ma],
        "risk": {"a": a.get("risk"), "b": b.get("risk")},
    }
