"""Downtime at production's traffic: the measured lock spans times the captured request rates.

For every lock a migration statement took that blocks reads or writes, the shapes that touch
the locked table and whose own lock conflicts with it (a SELECT takes AccessShareLock, a
SELECT ... FOR UPDATE RowShareLock, DML RowExclusiveLock: ``model.LOCK_CONFLICTS``) would wait
for the whole window: the time the statement itself waited for its lock (requests that arrive
meanwhile queue behind it) plus the time it held it. At a shape's rate r, a window of W seconds
blocks about r x W requests; with the application's lock_timeout L, those that arrive more than
L before the window closes fail: r x max(0, W - L). The downgrade's locks are estimated the same
way (a rollback runs against production's traffic too), at the captured rates: during a rollback
the application sending them is the new version, whose traffic may differ. docs/risk.md explains
the estimate and where it stops being right.
"""

from __future__ import annotations

from typing import Iterable

from ..model import LOCK_CONFLICTS, DowntimeEstimate, PlanComparison, QueryShape, RevisionResult, ShapeRun


def bare(name: str) -> str:
    return name.strip().strip('"').split(".")[-1].strip('"').lower()


def _touches(shape: QueryShape, table: str) -> bool:
    return bare(table) in {bare(t) for t in shape.tables}


def estimate(revisions: Iterable[RevisionResult], shapes: Iterable[QueryShape], *,
             lock_timeout_s: float | None = None) -> tuple[DowntimeEstimate, ...]:
    """One estimate per (revision, step, statement, table) whose lock blocks shapes with a known
    rate; the upgrades' first, then the downgrades' (the rollback)."""
    shapes = [s for s in shapes if s.calls_per_s is not None]
    revisions = tuple(revisions)
    found: list[DowntimeEstimate] = []
    steps = [(rev, "upgrade", rev.upgrade) for rev in revisions]
    steps += [(rev, "downgrade", rev.downgrade) for rev in reversed(revisions)]  # the order a rollback runs
    for rev, step, result in steps:
        for trace in result.statements if result is not None else ():
            for lock in trace.locks:
                if not (lock.blocks_reads or lock.blocks_writes) or lock.held_s is None:
                    continue
                waiting = [s for s in shapes if _touches(s, lock.relation)
                           and s.lock_mode in LOCK_CONFLICTS.get(lock.mode, frozenset())]
                if not waiting:
                    continue
                window = (trace.lock_wait_s or 0.0) + lock.held_s
                reads = [s for s in waiting if s.kind == "read"]
                writes = [s for s in waiting if s.kind == "write"]
                rate = sum(s.calls_per_s or 0.0 for s in waiting)
                fail = None if not lock_timeout_s else round(rate * max(0.0, window - lock_timeout_s), 1)
                found.append(DowntimeEstimate(
                    revision=rev.id, statement=trace.sql, table=lock.relation, lock_mode=lock.mode,
                    held_s=round(lock.held_s, 4), wait_s=round(trace.lock_wait_s or 0.0, 4),
                    reads_blocked=round(sum(s.calls_per_s or 0.0 for s in reads) * window, 1),
                    writes_blocked=round(sum(s.calls_per_s or 0.0 for s in writes) * window, 1),
                    read_shapes=len(reads), write_shapes=len(writes), lock_timeout_s=lock_timeout_s,
                    would_fail=fail, step=step))
    return tuple(found)


# below this, a latency difference on staging is timer and scheduler noise whatever the ratio
MIN_SLOWDOWN_MS = 1.0


def costlier(before: ShapeRun, after: ShapeRun, margin: float | None = None) -> bool:
    """The planner's estimated total cost rose beyond ``margin`` (plans.COST_MARGIN by default)."""
    from .plans import COST_MARGIN

    margin = COST_MARGIN if margin is None else margin
    if before.cost is None or after.cost is None:
        return False
    return after.cost > max(before.cost, 0.0) * (1.0 + margin)


def compare(shapes: Iterable[QueryShape], before: dict[str, ShapeRun], after: dict[str, ShapeRun], *,
            noise: float, large_tables: set[str]) -> tuple[PlanComparison, ...]:
    """Before and after side by side, for every shape measured both times.

    A shape is ``slower`` only when its latency grew beyond the noise margin (``noise`` and
    :data:`MIN_SLOWDOWN_MS`) *and* the planner corroborates it: the plan's shape changed, or its
    estimated cost rose beyond plans.COST_MARGIN. Timings on staging move with whatever else runs
    on the machine; an identical plan at the same cost is the same work, so a slower run of it is
    the machine, not the migration."""
    from ..config import beyond_noise

    out = []
    for shape in shapes:
        b, a = before.get(shape.fingerprint), after.get(shape.fingerprint)
        if b is None or a is None or not b.ok:
            continue
        if a.ok and a.plan_method != b.plan_method:
            # a generic plan and one for sampled values differ by design: comparing them would report
            # a change the migration did not make (the callers plan both sides the same way)
            raise ValueError(f"plans made two ways ({b.plan_method}, {a.plan_method}) cannot be compared")
        lost = tuple(i for i in b.indexes if i not in a.indexes) if a.ok else ()
        seq = tuple(t for t in a.seq_scans if t not in b.seq_scans and bare(t) in large_tables) if a.ok else ()
        changed = bool(a.ok and a.plan != b.plan)
        timed_slower = bool(a.ok and b.latency_ms is not None and a.latency_ms is not None and b.latency_ms > 0
                            and beyond_noise(a.latency_ms, b.latency_ms, noise)
                            and a.latency_ms - b.latency_ms >= MIN_SLOWDOWN_MS)
        slower = timed_slower and (changed or costlier(b, a))
        out.append(PlanComparison(query=shape.query, fingerprint=shape.fingerprint, calls_per_s=shape.calls_per_s,
                                  before=b, after=a, lost_indexes=lost, new_seq_scans=seq, slower=slower,
                                  plan_changed=changed))
    return tuple(out)
