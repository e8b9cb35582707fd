"""RH410-RH412 on measurements handed to them (the e2e test measures them on a real cluster)."""

from __future__ import annotations

from rehearse.checks import DatabaseContext, get_rule
from rehearse.model import PlanComparison, QueryShape, ShapeRun

LEGACY = QueryShape(query="SELECT id, legacy_status FROM orders WHERE customer_id = $1", fingerprint="a",
                    kind="read", lock_mode="AccessShareLock", tables=("orders",), calls=100, calls_per_s=40.0,
                    mean_ms=0.2)
OTHER = QueryShape(query="SELECT name FROM customers WHERE id = $1", fingerprint="b", kind="read",
                   lock_mode="AccessShareLock", tables=("customers",), calls=10, calls_per_s=1.0, mean_ms=0.1)


def _ctx(moment="after-step", **kw):
    return DatabaseContext(moment, dsn="", url="", revision="r2", **kw)


def test_rh410():
    rule = get_rule("RH410")
    runs = {"a": ShapeRun("a", ok=False, error='column "legacy_status" does not exist'), "b": ShapeRun("b", ok=True)}
    hits = list(rule.check(_ctx(query_shapes=(LEGACY, OTHER), shape_runs=runs)))
    assert len(hits) == 1
    assert hits[0].message.startswith("1 query shape breaks after r2: SELECT id, legacy_status FROM orders")
    assert "2,400 calls/min" in hits[0].message and "legacy_status" in hits[0].message
    # no shapes (no pg_stat_statements, no --queries): nothing is claimed either way
    assert not list(rule.check(_ctx(query_shapes=(), shape_runs=None)))
    # a shape that prepares is no finding
    assert not list(rule.check(_ctx(query_shapes=(OTHER,), shape_runs=runs)))
    rolled = list(rule.check(_ctx("after-rollback", query_shapes=(LEGACY,), shape_runs=runs)))
    assert "after the rollback" in rolled[0].message


def _cmp(before_ms, after_ms, *, lost=(), seq=(), slower=False):
    return PlanComparison(query=OTHER.query, fingerprint="b", calls_per_s=1.0,
                          before=ShapeRun("b", ok=True, indexes=("customers_pkey",), latency_ms=before_ms),
                          after=ShapeRun("b", ok=True, latency_ms=after_ms), lost_indexes=lost,
                          new_seq_scans=seq, slower=slower)


def test_rh411():
    rule = get_rule("RH411")
    hits = list(rule.check(_ctx("after-upgrade", plans=(_cmp(0.1, 3.0, lost=("customers_pkey",), seq=("customers",)),))))
    assert len(hits) == 1 and "no longer uses customers_pkey" in hits[0].message
    assert "now scans customers sequentially" in hits[0].message and "0.10 ms -> 3.00 ms" in hits[0].message
    assert not list(rule.check(_ctx("after-upgrade", plans=(_cmp(0.1, 0.1),))))


def test_rh412():
    rule = get_rule("RH412")
    hits = list(rule.check(_ctx("after-upgrade", plans=(_cmp(1.0, 4.0, slower=True),))))
    assert len(hits) == 1 and "(4.0x)" in hits[0].message
    # a plan change is RH411's finding (with its latency), not reported twice
    assert not list(rule.check(_ctx("after-upgrade", plans=(_cmp(1.0, 4.0, slower=True, lost=("x",)),))))
    assert not list(rule.check(_ctx("after-upgrade", plans=(_cmp(1.0, 1.1),))))
