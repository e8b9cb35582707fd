"""Per-statement cost models fitted over the ``--scale`` subsets, predicted at the full size.

A statement's cost follows the rows of the biggest table it locks (the relation a scan, a
rewrite, an index build or a backfill works through). Its operation class says which curve:

=============  =====================  ==============================================
class          model                  statements
=============  =====================  ==============================================
rewrite        a + b*n                a rewrite seen in the trace (relfilenode changed)
index build    a + b*n*log2(n)        CREATE [UNIQUE] INDEX, ADD PRIMARY KEY / UNIQUE
validate       a + b*n                ADD CONSTRAINT CHECK / FOREIGN KEY, VALIDATE, SET NOT NULL
backfill       a + b*n                UPDATE, DELETE, INSERT ... SELECT, MERGE
catalog        constant (the mean)    everything else: catalog-only DDL does not grow with rows
=============  =====================  ==============================================

The fit is ordinary least squares on (g(n), seconds), so the largest subsets weigh most, which is
what an extrapolation needs (the smallest ones are dominated by constant overhead). The noise is
relative, not absolute: a shared machine slows a statement by a factor, and the same full-size
statement timed in four runs spread with a log standard deviation of 0.15-0.3 (docs/risk.md). So
the 95% prediction interval is
``sqrt((t(0.975, m-2) * r)^2 * (y0^2 + sum(c_i^2 * f_i^2)) + (1.96 * max(r, 0.2) * y0)^2)``:
``r`` the residual standard error relative to the fitted values ``f_i`` (each counted as at least
a quarter of the largest measured cost), ``y0`` the prediction, ``c_i`` the least-squares weights
of the prediction (``1/m + (g0 - mean g) * (g_i - mean g) / Sxx``), and the last term the noise
of the one full-size run it is compared with. It grows with the prediction, with few points and
with far extrapolations. (The textbook interval's absolute ``s`` is set by the small subsets'
milliseconds: on simulated 20% relative noise it held the full-size value in 55% of runs.)

A prediction is flagged low-confidence, with the reason, beyond 10x the largest measured size,
from fewer than three points, from a fit whose slope came out negative (noise over a flat cost),
when the line through the smaller subsets misses the largest subset by more than 25% (a backtest
of the same ~3x extrapolation, where the answer is known).

Index builds in parallel: the full size's server builds a btree on a big enough table with
parallel workers (PostgreSQL's plan_create_index_workers, replayed by ``ParallelBuild.workers``),
the subsets, whose maintenance_work_mem is scaled down below the 32 MB per participant a parallel
build needs, build it alone. Their line predicts the build alone; the pipeline measures how much
faster the workers make it on the largest subset (the same upgrade with the full size's memory,
once alone and once with the full size's worker count, ``speedups``), and the prediction is the
line divided by that speedup. Without that measurement such a build is flagged low-confidence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from ..model import ScalePoint, ScalePrediction, StatementTrace

# two-sided 95% quantiles of Student's t by degrees of freedom (1..10); 1.96 beyond
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
LOW_CONFIDENCE_EXTRAPOLATION = 10.0
# a prediction is low-confidence when the curve through the smaller subsets misses the largest by more
BACKTEST = 0.25
# in the relative residuals, fitted values count as at least this share of the largest measured cost
NOISE_FLOOR = 0.25
# the relative noise of one timed run of a statement, at least (run to run on a shared machine)
OBSERVATION_NOISE = 0.2
# each participant of a parallel index build needs this much maintenance_work_mem (PostgreSQL's rule)
PARALLEL_PARTICIPANT_KB = 32 * 1024


@dataclass(frozen=True)
class ParallelBuild:
    """The full size's settings that decide how many workers a btree build gets."""

    max_workers: int = 2  # max_parallel_maintenance_workers
    maintenance_work_mem_kb: int = 65536
    min_scan_kb: int = 8192  # min_parallel_table_scan_size

    def workers(self, heap_bytes: float) -> int:
        """The workers PostgreSQL plans for an index build on a heap of this size (as
        plan_create_index_workers does without a parallel_workers reloption): one from
        min_parallel_table_scan_size on, one more each time the heap triples, at most
        max_parallel_maintenance_workers, and fewer until each participant has 32 MB."""
        pages, threshold = int(heap_bytes) // 8192, max(self.min_scan_kb // 8, 1)
        if self.max_workers <= 0 or pages < threshold:
            return 0
        workers = 1
        while pages >= threshold * 3 and workers < self.max_workers:
            workers, threshold = workers + 1, threshold * 3
        while workers > 0 and self.maintenance_work_mem_kb // (workers + 1) < PARALLEL_PARTICIPANT_KB:
            workers -= 1
        return workers

_INDEX = re.compile(r"^\s*create\s+(unique\s+)?index\b|\badd\s+(constraint\s+\S+\s+)?(primary\s+key|unique)\b", re.I)
_VALIDATE = re.compile(r"\bvalidate\s+constraint\b|\bset\s+not\s+null\b|"
                       r"\badd\s+(constraint\s+\S+\s+)?(check|foreign\s+key)\b", re.I)
_NOT_VALID = re.compile(r"\bnot\s+valid\b", re.I)
_BACKFILL = re.compile(r"^\s*(update|delete|merge)\b|^\s*insert\b.*\bselect\b", re.I | re.S)
_MODELS = {"rewrite": "a + b*n", "index build": "a + b*n*log2(n)", "validate": "a + b*n", "backfill": "a + b*n",
           "catalog": "constant"}


def operation_class(trace: StatementTrace) -> str:
    """rewrite | index build | validate | backfill | catalog, from the statement and its trace."""
    sql = re.sub(r"--[^\n]*", "", trace.sql)
    if _INDEX.search(sql):
        return "index build"
    tables = {lock.relation for lock in trace.locks if lock.rows is not None}
    if any(r in tables for r in trace.rewrites):
        return "rewrite"
    if _BACKFILL.search(sql):
        return "backfill"
    if _VALIDATE.search(sql) and not _NOT_VALID.search(sql):
        return "validate"
    return "catalog"


def cost_relation(trace: StatementTrace) -> str | None:
    """The biggest table the statement locked (what its cost grows with)."""
    tables = [lock for lock in trace.locks if lock.rows is not None]
    if not tables:
        return None
    return max(tables, key=lambda lock: (lock.rows or 0, lock.bytes or 0, lock.relation)).relation


def lock_held(trace: StatementTrace) -> float:
    """The longest hold of a lock that blocks normal reads or writes."""
    return max((lock.held_s or 0.0 for lock in trace.locks if lock.blocks_reads or lock.blocks_writes), default=0.0)


def _g(operation: str, rows: float) -> float:
    if operation == "index build":
        return rows * math.log2(max(rows, 2.0))
    return float(rows)


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float | None, float, float]:
    """OLS y = a + b*x: (a, b, residual standard error or None, mean x, Sxx)."""
    m = len(xs)
    mx, my = sum(xs) / m, sum(ys) / m
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return my, 0.0, None, mx, 0.0
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    if m <= 2:
        return a, b, None, mx, sxx
    ssr = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return a, b, math.sqrt(ssr / (m - 2)), mx, sxx


def relative_error(xs: Sequence[float], ys: Sequence[float], a: float, b: float, floor: float = 0.0) -> float:
    """Residual standard error of a fitted line, relative to the fitted values (m - 2 degrees of
    freedom); a fitted value below ``floor`` counts as ``floor`` (a few milliseconds off on the
    smallest subset are overhead and timer noise, not a 100% error that scales with the size)."""
    m = len(xs)
    if m <= 2:
        return 0.0
    res = [(y - (a + b * x)) / max(a + b * x, floor, 1e-6) for x, y in zip(xs, ys)]
    return math.sqrt(sum(r * r for r in res) / (m - 2))


def backtest(operation: str, rows: Sequence[int], ys: Sequence[float]) -> float | None:
    """(predicted - measured) / measured for the largest subset, predicted from the smaller ones:
    the same kind of extrapolation (about 3x) as to the full size, checked where it can be."""
    pts = sorted(zip(rows, ys))
    rest, (n_last, y_last) = pts[:-1], pts[-1]
    if len(rest) < 2 or y_last <= 0 or len({n for n, _ in rest}) < 2:
        return None
    a, b, _, _, _ = fit_line([_g(operation, n) for n, _ in rest], [y for _, y in rest])
    return (a + b * _g(operation, n_last) - y_last) / y_last


def _predict(operation: str, rows: Sequence[int], ys: Sequence[float], target: int):
    """(value, low, high, note) at ``target`` rows; note is a reason for low confidence or None."""
    if operation == "catalog" or max(rows) == 0:
        mean = sum(ys) / len(ys)
        return mean, min(ys), max(ys), None
    xs = [_g(operation, r) for r in rows]
    a, b, s, mx, sxx = fit_line(xs, ys)
    note = None
    if b < 0:
        # noise over a cost too small to grow measurably: the mean is the honest answer
        mean = sum(ys) / len(ys)
        return mean, min(ys), max(ys), "the measured cost did not grow with the size"
    x0 = _g(operation, target)
    value = max(a + b * x0, 0.0)
    if s is None:
        return value, None, None, note
    m = len(xs)
    t = _T95[m - 3] if m - 2 <= len(_T95) else 1.96
    # the noise is relative (a busy machine slows a statement by a factor, whatever its size): each
    # point's noise is r times its fitted value, and the prediction a + b*x0 = sum(c_i * y_i) with
    # the least-squares weights c_i carries sum(c_i^2 * (r * fit_i)^2)
    floor = NOISE_FLOOR * max(ys)
    rel = relative_error(xs, ys, a, b, floor)
    weights = [1 / m + (x0 - mx) * (x - mx) / sxx for x in xs]
    carried = sum((c * max(a + b * x, floor)) ** 2 for c, x in zip(weights, xs))
    # the full-size run is one run too: its own noise is at least OBSERVATION_NOISE (measured: the
    # same full-size statement over four runs on the shared machine, log standard deviation 0.15-0.3)
    half = math.sqrt((t * rel) ** 2 * (value ** 2 + carried) + (1.96 * max(rel, OBSERVATION_NOISE) * value) ** 2)
    return value, max(value - half, 0.0), value + half, note


def predict(runs: Sequence[tuple[float, Mapping[str, int], Mapping[str, Sequence[StatementTrace]]]],
            target_rows: Mapping[str, int],
            measured: Mapping[str, Sequence[StatementTrace]] | None = None,
            parallel_workers: Mapping[tuple[str, int, str], int] | None = None,
            speedups: Mapping[tuple[str, int, str], float] | None = None) -> list[ScalePrediction]:
    """Fit every upgrade statement seen in ``runs`` and predict it at ``target_rows``.

    ``runs``: per subset, (fraction, rows per table, upgrade statements per revision). Statements
    are matched across subsets by revision, position and text; ``measured`` (the full size's own
    upgrade statements, when this run rehearsed it) fills ``measured_s`` for comparison only.
    ``parallel_workers``: per statement key (revision, position, text), the parallel workers the
    full size's server gives that index build (``ParallelBuild.workers``; absent: it builds alone);
    ``speedups``: how much faster those workers built it on the largest subset
    (``pipeline.scale.parallel_speedups``). Such a build is predicted as its line divided by its
    speedup, or flagged when that was not measured.
    """
    if not runs:
        return []
    order: list[tuple[str, int, str]] = []
    seen: dict[tuple[str, int, str], list[tuple[float, Mapping[str, int], StatementTrace]]] = {}
    for fraction, rows, by_revision in runs:
        for rev, statements in by_revision.items():
            for index, trace in enumerate(statements):
                key = (rev, index, trace.sql)
                if key not in seen:
                    seen[key] = []
                    order.append(key)
                seen[key].append((fraction, rows, trace))
    measured_by_key = {(rev, i, t.sql): t for rev, ts in (measured or {}).items() for i, t in enumerate(ts)}
    out = []
    for key in order:
        samples = [(f, rows, t) for f, rows, t in seen[key] if t.ok]
        if not samples:
            continue
        rev, index, sql = key
        first = samples[-1][2]
        operation = operation_class(first)
        relation = cost_relation(first)
        pts = tuple(ScalePoint(fraction=f, rows=int(rows.get(relation, _lock_rows(t, relation))) if relation else 0,
                               duration_s=round(t.duration_s, 6), lock_held_s=round(lock_held(t), 6))
                    for f, rows, t in samples)
        target = int(target_rows.get(relation, 0)) if relation else 0
        ns = [p.rows for p in pts]
        dur = _predict(operation, ns, [p.duration_s for p in pts], target)
        lock = _predict(operation, ns, [p.lock_held_s for p in pts], target)
        reasons = []
        largest = max(ns)
        extrapolation = round(target / largest, 2) if largest else None
        if extrapolation is not None and extrapolation > LOW_CONFIDENCE_EXTRAPOLATION:
            reasons.append(f"{extrapolation:g}x beyond the largest subset measured "
                           f"(more than {LOW_CONFIDENCE_EXTRAPOLATION:g}x)")
        if len(pts) < 3 and operation != "catalog":
            reasons.append(f"only {len(pts)} subset(s) ran this statement")
        if dur[3] and operation != "catalog":
            reasons.append(dur[3])
        elif operation != "catalog" and len(pts) >= 3:
            missed = backtest(operation, ns, [p.duration_s for p in pts])
            if missed is not None and abs(missed) > BACKTEST:
                reasons.append(f"the curve through the smaller subsets missed the largest by {missed * 100:+.0f}% "
                               f"(noisy timings: a busy machine)")
        workers = (parallel_workers or {}).get(key, 0) if operation == "index build" else 0
        speedup = (speedups or {}).get(key) if workers else None
        if speedup is not None:
            # the line is the build alone; the full size's workers make it this much faster
            speedup = min(max(speedup, 1.0), workers + 1.0)
            dur, lock = _divided(dur, speedup), _divided(lock, speedup)
        elif workers:
            reasons.append(f"the full size builds it with {workers} parallel worker{'s' if workers > 1 else ''}, "
                           f"the subsets build it alone (their maintenance_work_mem is scaled below the 32 MB "
                           f"per participant a parallel build needs) and the speedup was not measured")
        full = measured_by_key.get(key)
        out.append(ScalePrediction(
            revision=rev, index=index, sql=sql, operation=operation, model=_MODELS[operation]
            if operation != "catalog" and largest else "constant", relation=relation, target_rows=target, points=pts,
            duration_s=round(dur[0], 6), duration_low_s=_r(dur[1]), duration_high_s=_r(dur[2]),
            lock_held_s=round(lock[0], 6), lock_low_s=_r(lock[1]), lock_high_s=_r(lock[2]),
            extrapolation=extrapolation, low_confidence=bool(reasons), reasons=tuple(reasons),
            parallel_workers=workers, parallel_speedup=round(speedup, 3) if speedup is not None else None,
            measured_s=round(full.duration_s, 6) if full is not None and full.ok else None,
            measured_lock_s=round(lock_held(full), 6) if full is not None and full.ok else None))
    return out


def _divided(prediction: tuple, by: float) -> tuple:
    """(value, low, high, note) with the value and its interval divided by ``by``."""
    value, low, high, note = prediction
    return value / by, None if low is None else low / by, None if high is None else high / by, note


def full_bytes(trace: StatementTrace, relation: str | None, target: int, rows: int) -> float:
    """The relation's size at the full size, from its size on the largest subset."""
    size = next((lock.bytes or 0 for lock in trace.locks if lock.relation == relation), 0)
    return size * target / rows if rows else 0.0


def _lock_rows(trace: StatementTrace, relation: str | None) -> int:
    return next((lock.rows or 0 for lock in trace.locks if lock.relation == relation), 0)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def error_pct(prediction: ScalePrediction) -> float | None:
    """(predicted - measured) / measured in percent, when the full size was measured."""
    if prediction.measured_s is None or prediction.measured_s <= 0:
        return None
    return round(100.0 * (prediction.duration_s - prediction.measured_s) / prediction.measured_s, 1)


def largest(predictions: Iterable[ScalePrediction], n: int = 10) -> list[ScalePrediction]:
    return sorted(predictions, key=lambda p: -p.duration_s)[:n]
