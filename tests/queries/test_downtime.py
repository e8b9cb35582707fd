"""downtime.estimate on traces handed to it: the upgrade's locks and the rollback's (no database)."""

from __future__ import annotations

import pytest

from rehearse.model import LockTaken, RevisionResult, StatementTrace, StepResult
from rehearse.queries.downtime import estimate
from rehearse.queries.shapes import shape_of

READ = shape_of("SELECT name FROM customers WHERE id = $1", calls_per_s=100.0)
WRITE = shape_of("UPDATE customers SET name = $1 WHERE id = $2", calls_per_s=10.0)


def _step(sql: str, mode: str, held_s: float, wait_s: float = 0.0) -> StepResult:
    lock = LockTaken("public.customers", mode, blocks_reads=mode == "AccessExclusiveLock", blocks_writes=True,
                     held_s=held_s)
    return StepResult(ok=True, duration_s=held_s, statements=(StatementTrace(sql, held_s, locks=(lock,),
                                                                             lock_wait_s=wait_s),))


def test_the_rollback_blocks_traffic_too_and_is_estimated_as_a_downgrade():
    rev = RevisionResult(id="r2", message="", down_revisions=("r1",), file=None,
                         upgrade=_step("CREATE INDEX ix ON customers (name)", "ShareLock", 0.5),
                         downgrade=_step("ALTER TABLE customers DROP COLUMN note", "AccessExclusiveLock", 2.0, 0.5))
    up, down = estimate([rev], [READ, WRITE], lock_timeout_s=1.0)
    assert (up.step, down.step) == ("upgrade", "downgrade")
    # SHARE blocks writes only; ACCESS EXCLUSIVE blocks both, for its wait plus its hold
    assert (up.read_shapes, up.write_shapes, up.writes_blocked) == (0, 1, 5.0)
    assert (down.read_shapes, down.write_shapes) == (1, 1)
    assert down.reads_blocked == pytest.approx(100.0 * 2.5) and down.writes_blocked == pytest.approx(10.0 * 2.5)
    assert down.would_fail == pytest.approx(110.0 * 1.5)


def test_downgrades_are_listed_in_the_order_a_rollback_runs_them():
    revs = [RevisionResult(id=f"r{i}", message="", down_revisions=(), file=None,
                           upgrade=StepResult(ok=True, duration_s=0.0),
                           downgrade=_step("ALTER TABLE customers DROP COLUMN c", "AccessExclusiveLock", 1.0))
            for i in (1, 2, 3)]
    assert [(d.step, d.revision) for d in estimate(revs, [READ])] == [("downgrade", "r3"), ("downgrade", "r2"),
                                                                       ("downgrade", "r1")]
    # not rehearsed (no downgrade ran): nothing is estimated for it
    assert estimate([RevisionResult(id="r1", message="", down_revisions=(), file=None,
                                    upgrade=StepResult(ok=True, duration_s=0.0))], [READ]) == ()
