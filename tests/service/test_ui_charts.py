"""The target page's SVG charts and the compare rule, from data (no server needed)."""

from __future__ import annotations

import re

from rehearse.service import charts
from rehearse.service.trends import compare, trends


def _history(durations: list[float], locks: list[float]) -> list[dict]:
    return [{"rehearsal": i + 1, "ref": "main", "at": f"2025-01-0{i + 1}T00:00:00+00:00", "status": "passed",
             "risk": "low", "data_rows": 1000 * (i + 1),
             "revisions": [{"revision": "r1", "duration_s": d, "longest_lock_s": lk, "table_rows": 500 * (i + 1),
                            "table_bytes": 8192, "risk": "low", "rewrites": 0},
                           {"revision": "r2", "duration_s": d / 2, "longest_lock_s": 0, "table_rows": None,
                            "table_bytes": None, "risk": "low", "rewrites": 0}]}
            for i, (d, lk) in enumerate(zip(durations, locks))]


def _points(svg: str, series: str | None = None) -> int:
    tag = r'<circle class="point"[^>]*' + (f'data-series="{series}"' if series else "")
    return len(re.findall(tag, svg))


def test_one_point_per_revision_and_rehearsal_and_the_budget_lines():
    t = trends({"name": "shop", "thresholds": {"lock_held_s": 0.5}}, _history([0.2, 0.4, 0.9], [0.1, 0.3, 0.7]))
    duration = charts.trend_chart("chart-duration", "d", t["duration_s"], t["budgets"]["duration_s"])
    lock = charts.trend_chart("chart-lock", "l", t["longest_lock_s"], t["budgets"]["lock_s"])
    assert _points(duration) == 6 and _points(duration, "r1") == 3 and _points(duration, "r2") == 3
    assert _points(lock) == 6
    # the target's own lock_held_s (0.5 s) and medium_lock_s (1 s) are drawn; 5 s is named, not drawn
    assert 'lock_held_s (finding) 0.5 s' in lock and "high_lock_s (risk) 5 s (above the scale)" in lock
    assert lock.count('<line class="budget"') == 2
    by_size = charts.scatter_chart("chart-size", "s", t["duration_by_table_rows"], "table_rows", "duration_s", "rows")
    assert _points(by_size) == 3  # r2 locked no table
    assert _points(charts.size_chart("chart-data", "n", t["data_rows"])) == 3


def test_equal_budgets_share_one_line_and_empty_data_says_so():
    t = trends({"name": "shop", "thresholds": {}}, _history([0.2], [2.0]))
    lock = charts.trend_chart("chart-lock", "l", t["longest_lock_s"], t["budgets"]["lock_s"])
    assert "lock_held_s (finding) = medium_lock_s (risk) 1 s" in lock and lock.count("<line class=\"budget\"") == 2  # and 5 s
    assert "no finished rehearsal" in charts.trend_chart("c", "l", {}, {})


def test_compare_reports_new_and_resolved_findings_and_changes_beyond_noise():
    def report(dur: dict[str, float], codes: list[str]) -> dict:
        return {"risk": "low", "findings": [], "revisions": [
            {"id": rev, "upgrade": {"duration_s": d, "statements": []},
             "findings": [{"code": c, "name": c, "severity": "high", "message": "m", "revision": rev,
                           "phase": "upgrade"} for c in codes if rev == "r1"]}
            for rev, d in dur.items()]}

    a = report({"r1": 1.0, "r2": 1.0, "r3": 0.01, "r4": 2.0}, ["RH1", "RH2"])
    b = report({"r1": 1.2, "r2": 1.5, "r3": 0.05, "r4": 1.0}, ["RH2", "RH3"])
    out = compare(a, b, {"name": "shop", "thresholds": {}})
    assert [f["code"] for f in out["new_findings"]] == ["RH3"]
    assert [f["code"] for f in out["resolved_findings"]] == ["RH1"]
    # r1 +20 %: within the 25 % noise; r2 +50 %: slower; r3: 5x but 40 ms; r4 halved: faster
    assert [(c["revision"], c["change"]) for c in out["changed"]] == [("r2", "slower"), ("r4", "faster")]
