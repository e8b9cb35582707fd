"""The cost models of --scale: operation classes from real statement traces' shape, and the fit
and its prediction interval on known curves (pure arithmetic, no database)."""

from __future__ import annotations

import math

import pytest

from rehearse.config import parse_scale
from rehearse.errors import BadInput
from rehearse.model import LockTaken, StatementTrace
from rehearse.scale.fit import ParallelBuild, fit_line, operation_class, predict


def _trace(sql: str, seconds: float = 0.01, rows: int | None = 1000, relation: str = "public.t",
           mode: str = "AccessExclusiveLock", rewrites: tuple[str, ...] = (), held: float | None = None) -> StatementTrace:
    reads, writes = mode == "AccessExclusiveLock", mode in ("ShareLock", "AccessExclusiveLock")
    return StatementTrace(sql=sql, duration_s=seconds, rewrites=rewrites,
                          locks=(LockTaken(relation=relation, mode=mode, blocks_reads=reads, blocks_writes=writes,
                                           held_s=seconds if held is None else held, rows=rows, bytes=rows and rows * 100),))


@pytest.mark.parametrize("sql, rewrites, expected", [
    ("CREATE INDEX ix ON t (a)", (), "index build"),
    ("create unique index concurrently ix on t (a)", (), "index build"),
    ("ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY (id)", (), "index build"),
    ("ALTER TABLE t ALTER COLUMN a TYPE BIGINT", ("public.t",), "rewrite"),
    ("ALTER TABLE t ALTER COLUMN a TYPE VARCHAR(300)", (), "catalog"),
    ("UPDATE t SET a = 1", (), "backfill"),
    ("INSERT INTO t2 SELECT * FROM t", (), "backfill"),
    ("ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)", (), "validate"),
    ("ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0) NOT VALID", (), "catalog"),
    ("ALTER TABLE t VALIDATE CONSTRAINT ck", (), "validate"),
    ("ALTER TABLE t ALTER COLUMN a SET NOT NULL", (), "validate"),
    ("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (b) REFERENCES p (id)", (), "validate"),
    ("ALTER TABLE t ADD COLUMN c INTEGER", (), "catalog"),
])
def test_operation_class(sql, rewrites, expected):
    assert operation_class(_trace(sql, rewrites=rewrites)) == expected


def test_fit_line_recovers_a_line():
    a, b, s, _, _ = fit_line([1, 2, 3, 4], [3, 5, 7, 9])
    assert (round(a, 9), round(b, 9)) == (1, 2)
    assert s == pytest.approx(0.0, abs=1e-9)


def _runs(cost, sizes=(1000, 3000, 10000, 30000), noise=(0.0, 0.0, 0.0, 0.0), sql="UPDATE t SET a = 1", **kw):
    return [(n / 100000, {"public.t": n}, {"r1": (_trace(sql, cost(n) + e, rows=n, **kw),)})
            for n, e in zip(sizes, noise)]


def test_linear_cost_is_extrapolated_to_the_full_size():
    runs = _runs(lambda n: 0.002 + 1e-5 * n, noise=(0.0005, -0.0005, 0.0005, -0.0005))
    [p] = predict(runs, {"public.t": 100000})
    assert p.operation == "backfill" and p.model == "a + b*n" and p.target_rows == 100000
    assert p.duration_s == pytest.approx(1.002, rel=0.01)
    assert p.duration_low_s < p.duration_s < p.duration_high_s
    assert not p.low_confidence and p.extrapolation == pytest.approx(3.33, rel=0.01)
    assert p.lock_held_s == pytest.approx(1.002, rel=0.01)  # the lock is held for the statement


def test_index_builds_follow_n_log_n():
    runs = _runs(lambda n: 1e-6 * n * math.log2(n), sql="CREATE INDEX ix ON t (a)", mode="ShareLock")
    [p] = predict(runs, {"public.t": 1_000_000})
    assert p.model == "a + b*n*log2(n)"
    assert p.duration_s == pytest.approx(1e-6 * 1e6 * math.log2(1e6), rel=1e-6)


def test_far_extrapolation_is_low_confidence():
    [p] = predict(_runs(lambda n: 1e-5 * n), {"public.t": 30000 * 11})
    assert p.low_confidence and "beyond the largest subset" in p.reasons[0]


def test_a_cost_that_does_not_grow_is_not_extrapolated():
    # catalog-only DDL: the same few milliseconds whatever the size
    [p] = predict(_runs(lambda n: 0.003, sql="ALTER TABLE t ADD COLUMN c INTEGER"), {"public.t": 10 ** 9})
    assert p.model == "constant" and p.duration_s == pytest.approx(0.003)


def test_statements_match_across_subsets_and_failed_ones_are_left_out():
    runs = _runs(lambda n: 1e-5 * n)
    runs[0][2]["r1"] = (StatementTrace(sql="UPDATE t SET a = 1", duration_s=1.0, ok=False, error="boom"),)
    [p] = predict(runs, {"public.t": 100000})
    assert len(p.points) == 3 and all(pt.rows >= 3000 for pt in p.points)


@pytest.mark.parametrize("text, expected", [
    ("1%,3%,10%,30%", (0.01, 0.03, 0.1, 0.3)),
    ("0.3, 0.1", (0.1, 0.3)),
    ("5,20", (0.05, 0.2)),
])
def test_parse_scale(text, expected):
    assert parse_scale(text) == expected


@pytest.mark.parametrize("text, why", [("10%", "at least two"), ("1%,100%", "between 0% and 100%"),
                                       ("1%,lots", "not a percentage")])
def test_parse_scale_refuses(text, why):
    with pytest.raises(BadInput, match=why):
        parse_scale(text)


def test_the_interval_is_relative_to_the_prediction():
    # each point 10% off, alternately: the interval at the full size is about +-(t * 10% * extrapolation)
    runs = _runs(lambda n: 1e-5 * n, noise=(1e-3, -3e-3, 1e-2, -3e-2))
    [p] = predict(runs, {"public.t": 100000})
    assert p.duration_low_s < 1.0 < p.duration_high_s
    half = (p.duration_high_s - p.duration_low_s) / 2
    assert 0.2 * p.duration_s < half < 1.5 * p.duration_s


def test_relative_error_of_a_line_with_proportional_noise():
    from rehearse.scale.fit import relative_error
    xs = [1.0, 3.0, 10.0, 30.0]
    ys = [x * (1.1 if i % 2 else 0.9) for i, x in enumerate(xs)]
    assert relative_error(xs, ys, 0.0, 1.0) == pytest.approx(0.1 * math.sqrt(4 / 2))
    assert relative_error(xs[:2], ys[:2], 0.0, 1.0) == 0.0  # no degree of freedom left


def test_the_95_interval_covers_the_truth_under_relative_noise():
    # a busy machine slows each run by a random factor: the interval must still hold the full-size
    # value in about 95% of such runs (the textbook absolute interval held it in far fewer)
    import random
    rng = random.Random(15)
    sizes, target = (10000, 30000, 100000, 300000), 1_000_000
    truth = lambda n: 0.005 + 2e-6 * n  # noqa: E731
    covered = 0
    trials = 400
    for _ in range(trials):
        runs = [(n / target, {"public.t": n},
                 {"r1": (_trace("UPDATE t SET a = 1", truth(n) * rng.lognormvariate(0, 0.2), rows=n),)})
                for n in sizes]
        [p] = predict(runs, {"public.t": target})
        measured = truth(target) * rng.lognormvariate(0, 0.2)  # the full size is one noisy run too
        covered += p.duration_low_s <= measured <= p.duration_high_s
    assert covered / trials >= 0.9


def test_a_largest_subset_the_smaller_ones_do_not_predict_is_flagged():
    # the 10% subset ran 40% slow (a busy machine): the line through 1% and 3% misses it
    runs = _runs(lambda n: 1e-5 * n, noise=(0.0, 0.0, 0.04, 0.0))
    [p] = predict(runs, {"public.t": 100000})
    assert p.low_confidence and "missed the largest by" in p.reasons[0]
    [quiet] = predict(_runs(lambda n: 1e-5 * n, noise=(1e-5, -1e-5, 1e-5, -1e-5)), {"public.t": 100000})
    assert not quiet.low_confidence
    # one timed run at the full size varies by 20% (a shared machine): the interval never promises less
    assert 1.39 * quiet.duration_s <= quiet.duration_high_s < 1.45 * quiet.duration_s


def test_backtest_predicts_the_largest_subset_from_the_others():
    from rehearse.scale.fit import backtest
    assert backtest("backfill", [1000, 3000, 10000], [0.01, 0.03, 0.1]) == pytest.approx(0.0, abs=1e-9)
    assert backtest("backfill", [1000, 3000, 10000], [0.01, 0.03, 0.2]) == pytest.approx(-0.5)
    assert backtest("backfill", [1000, 3000], [0.01, 0.03]) is None  # one point left to fit: no line


def test_index_builds_the_full_size_runs_in_parallel_are_flagged_until_their_speedup_is_measured():
    runs = _runs(lambda n: 1e-6 * n * math.log2(n), sql="CREATE INDEX ix ON t (a)", mode="ShareLock")
    key = ("r1", 0, "CREATE INDEX ix ON t (a)")
    [serial] = predict(runs, {"public.t": 100000})
    [parallel] = predict(runs, {"public.t": 100000}, parallel_workers={key: 1})
    assert not serial.low_confidence and serial.parallel_workers == 0
    assert parallel.low_confidence and "1 parallel worker" in parallel.reasons[0]
    assert parallel.parallel_workers == 1 and parallel.parallel_speedup is None
    # measured on the largest subset: 1.6x faster with the worker; the prediction is the line / 1.6
    [measured] = predict(runs, {"public.t": 100000}, parallel_workers={key: 1}, speedups={key: 1.6})
    assert not measured.low_confidence and measured.parallel_speedup == 1.6
    assert measured.duration_s == pytest.approx(serial.duration_s / 1.6, rel=1e-4)
    assert measured.duration_high_s == pytest.approx(serial.duration_high_s / 1.6, rel=1e-4)
    assert measured.lock_held_s == pytest.approx(serial.lock_held_s / 1.6, rel=1e-4)
    # a speedup beyond what 2 participants can give is noise: at most workers + 1; below 1, none
    [capped] = predict(runs, {"public.t": 100000}, parallel_workers={key: 1}, speedups={key: 3.5})
    assert capped.parallel_speedup == 2.0
    [slower] = predict(runs, {"public.t": 100000}, parallel_workers={key: 1}, speedups={key: 0.8})
    assert slower.parallel_speedup == 1.0 and slower.duration_s == pytest.approx(serial.duration_s, rel=1e-4)
    # a statement that is not an index build never gets a speedup
    upd = _runs(lambda n: 1e-5 * n)
    [backfill] = predict(upd, {"public.t": 100000}, parallel_workers={("r1", 0, "UPDATE t SET a = 1"): 1},
                         speedups={("r1", 0, "UPDATE t SET a = 1"): 1.6})
    assert backfill.parallel_speedup is None and backfill.parallel_workers == 0


@pytest.mark.parametrize("heap_mb, settings, workers", [
    (7, {}, 0),  # under min_parallel_table_scan_size
    (8, {}, 1),
    (100, {}, 1),  # 64 MB of maintenance_work_mem: two participants of 32 MB at most
    (100, {"maintenance_work_mem_kb": 1 << 20}, 2),  # 24 MB and more: a second worker
    (20, {"maintenance_work_mem_kb": 1 << 20}, 1),
    (1000, {"maintenance_work_mem_kb": 1 << 20, "max_workers": 4}, 4),  # 8 * 3^3 = 216 MB: four
    (100, {"max_workers": 0}, 0),
    (100, {"maintenance_work_mem_kb": 32768}, 0),  # the default 64 MB halved: no worker at all
])
def test_parallel_index_build_workers_follow_postgres_rules(heap_mb, settings, workers):
    assert ParallelBuild(**settings).workers(heap_mb << 20) == workers
