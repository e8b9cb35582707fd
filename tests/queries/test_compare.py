"""downtime.compare on measurements handed to it: when a slower timing counts (no database)."""

from __future__ import annotations

from rehearse.checks import DatabaseContext, get_rule
from rehearse.model import ShapeRun
from rehearse.queries.downtime import compare
from rehearse.queries.shapes import shape_of

SHAPE = shape_of("SELECT count(*) FROM events WHERE grp = $1")
SEQ = "Aggregate\n  Seq Scan on events"
INDEXED = "Aggregate\n  Index Only Scan using ix_events_grp on events"


def _one(before: ShapeRun, after: ShapeRun):
    (cmp,) = compare((SHAPE,), {SHAPE.fingerprint: before}, {SHAPE.fingerprint: after}, noise=0.25,
                     large_tables=set())
    return cmp


def _run(ms: float, cost: float | None, plan: str = SEQ) -> ShapeRun:
    return ShapeRun(SHAPE.fingerprint, ok=True, plan=plan, latency_ms=ms, cost=cost, runs=5,
                    seq_scans=("events",) if "Seq" in plan else ())


def test_a_slower_run_of_the_same_plan_at_the_same_cost_is_noise():
    cmp = _one(_run(17.3, 4500.0), _run(36.9, 4500.0))
    assert not cmp.slower and not cmp.plan_changed
    # statistics re-sampled by ANALYZE move the estimate a little: still the same work
    assert not _one(_run(17.3, 4500.0), _run(36.9, 4900.0)).slower


def test_a_slower_run_with_a_costlier_plan_is_a_regression():
    cmp = _one(_run(2.5, 900.0), _run(9.3, 8040.0))
    assert cmp.slower and not cmp.plan_changed
    (hit,) = get_rule("RH412").check(DatabaseContext("after-upgrade", dsn="", url="", plans=(cmp,)))
    assert "estimated cost 900 -> 8,040" in hit.message and "(3.7x" in hit.message
    assert hit.evidence["cost_before"] == 900.0 and hit.evidence["plan_changed"] is False


def test_a_slower_run_with_a_changed_plan_is_a_regression():
    cmp = _one(_run(0.5, 40.0, INDEXED), _run(4.0, 40.0, SEQ))
    assert cmp.slower and cmp.plan_changed
    (hit,) = get_rule("RH412").check(DatabaseContext("after-upgrade", dsn="", url="", plans=(cmp,)))
    assert "its plan changed" in hit.message


def test_a_costlier_plan_that_runs_as_fast_is_not_slower():
    assert not _one(_run(2.5, 900.0), _run(2.6, 8040.0)).slower


def test_without_costs_only_a_changed_plan_corroborates():
    assert not _one(_run(2.0, None), _run(9.0, None)).slower
    assert _one(_run(2.0, None, INDEXED), _run(9.0, None, SEQ)).slower
