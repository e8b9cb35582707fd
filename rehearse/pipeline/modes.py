"""The two ways through a history, composed from the stepper's primitives.

``release``: upgrade the whole range one revision at a time (as a deploy would), downgrade it
step by step, then upgrade it again. ``stairway``: for each revision, upgrade, downgrade and
upgrade again before moving to the next (pytest-alembic's stairway test).

One revision's failure never becomes another's. After a step fails, or a downgrade leaves
residue that the next step trips over, the stepper puts the database back at a state the
history knows (``Stepper.restart_at``: the restored snapshot plus the upgrades below) and the
rehearsal goes on from there. A revision that cannot be rehearsed because of another one is
reported as "not rehearsed: because ..." and is not a failure of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..migrate.runner import Plan, Revision
from ..model import RevisionResult, RollbackResult, StepResult
from ..rollback import judge
from .stepper import Step, Stepper, row_counts


@dataclass(frozen=True)
class Outcome:
    revisions: tuple[RevisionResult, ...]
    rollback: RollbackResult
    reupgrade: StepResult | None


def release(s: Stepper, plan: Plan) -> Outcome:
    """Upgrade the whole range, then downgrade it step by step, then upgrade it again."""
    ups: dict[str, Step] = {}
    schema_before, data_before, data_upgraded = {}, {}, {}
    start_schema = schema = s.schema()
    start_data = data = s.data()
    applied: list[Revision] = []
    touched_all: frozenset[str] | None = frozenset()
    failed_upgrade: Revision | None = None
    for rev in plan.revisions:
        schema_before[rev.id], data_before[rev.id] = schema, data
        s.say(f"upgrade {rev.id}  {rev.message}")
        up = ups[rev.id] = s.upgrade(rev)
        if not up.ok:
            s.ledger.fail(f"upgrade of {rev.id} failed: {up.result.error}")
            failed_upgrade = rev
            break
        applied.append(rev)
        touched_all = None if up.touched is None or touched_all is None else touched_all | up.touched
        schema = s.schema()
        data = data_upgraded[rev.id] = s.data(data, up.touched)
        s.check_database("after-step", revision=rev, touched=up.touched,
                         rows_before=row_counts(data_before[rev.id]), rows_after=row_counts(data))
    if applied and len(applied) == len(plan.revisions):
        s.check_database("after-upgrade", touched=touched_all)
    if failed_upgrade is not None and s.restart_at(applied):
        # a failed upgrade may have left the database in between (DDL outside its transaction)
        data = s.data()

    downs: dict[str, Step] = {}
    rollbacks: dict[str, RollbackResult] = {}
    residue = judge.Residue()
    residue_from: str | None = None
    full_downgrade_stops: list[str] = []
    for position in range(len(applied) - 1, -1, -1):
        rev, below = applied[position], applied[:position]
        s.say(f"downgrade {rev.id}")
        down = s.downgrade(rev)
        if not down.ok and residue_from is not None and s.restart_at(applied[:position + 1]):
            # a later revision's downgrade left residue: try this one again on the database its
            # upgrade made; only if it then passes was the residue the cause (and its author blamed)
            first, culprit = down, residue_from
            residue, residue_from = judge.Residue(), None
            down = s.downgrade(rev)
            if down.ok:
                full_downgrade_stops.append(f"the full downgrade fails at {rev.id} because of what the downgrade "
                                            f"of {culprit} left behind: {first.result.error}")
                data = s.data(None, None)
        downs[rev.id] = down
        if not down.ok:
            rollbacks[rev.id] = _failed(s, rev, down)
            full_downgrade_stops.append(f"the full downgrade stops at {rev.id}")
            if s.restart_at(below):
                residue, residue_from = judge.Residue(), None
            else:  # no way back to a known state: mark it undone and compare what follows with care
                s.stamp_below(rev)
                residue_from = residue_from or rev.id
            data = s.data(None, None)
            continue
        after_schema = s.schema()
        data = s.data(data, down.touched)
        result, residue = judge.judge_downgrade(
            schema_before=schema_before[rev.id], schema_after=after_schema, data_before=data_before[rev.id],
            data_after=data, data_upgraded=data_upgraded.get(rev.id), downgrade=down.result,
            classification=s.downgrade_kind(rev), compare_generated_names=s.cfg.compare_generated_names,
            residue=residue)
        rollbacks[rev.id] = result
        line = judge.failure_line(rev.id, result, residue_from)
        if line:
            s.ledger.fail(line)
            residue_from = residue_from or rev.id

    overall = RollbackResult(ok=True, classification="not-run")
    if applied:
        overall = judge.judge_whole_range(
            schema_start=start_schema, schema_end=s.schema(), data_start=start_data,
            data_end=s.data(data, frozenset()) if data is not None else s.data(),
            compare_generated_names=s.cfg.compare_generated_names,
            one_way=[d for r in rollbacks.values() for d in r.one_way])
        if full_downgrade_stops:
            overall = judge.stopped_whole_range(overall, full_downgrade_stops)
        if not overall.ok:
            s.ledger.fail(overall.error if full_downgrade_stops else
                          "the database after the full downgrade differs from the database before the upgrade")
    s.check_database("after-rollback")

    reups: dict[str, Step] = {}
    for position, rev in enumerate(applied):
        s.say(f"re-upgrade {rev.id}")
        reup = reups[rev.id] = s.upgrade(rev, phase="reupgrade")
        if not reup.ok:
            s.ledger.fail(f"re-upgrade of {rev.id} failed: {reup.result.error}")
            if not s.restart_at(applied[:position + 1]):
                break  # the others cannot be rehearsed on a database in an unknown state
    revisions = tuple(_result(s, rev, ups.get(rev.id), downs.get(rev.id), reups.get(rev.id), rollbacks.get(rev.id),
                              not_rehearsed=_why_not(rev, failed_upgrade, ups))
                      for rev in plan.revisions)
    return Outcome(revisions, overall, _combine([r.result for r in reups.values()]) if reups else None)


def stairway(s: Stepper, plan: Plan) -> Outcome:
    """For each revision: upgrade, downgrade, upgrade again, before moving to the next."""
    revisions: list[RevisionResult] = []
    schema, data = s.schema(), s.data()
    reups: list[StepResult] = []
    applied: list[Revision] = []
    touched_all: frozenset[str] | None = frozenset()
    stopped_by: str | None = None
    for rev in plan.revisions:
        if stopped_by is not None:
            revisions.append(_result(s, rev, None, None, None, None, not_rehearsed=stopped_by))
            continue
        s.say(f"stairway {rev.id}  {rev.message}")
        up = s.upgrade(rev)
        if not up.ok:
            s.ledger.fail(f"upgrade of {rev.id} failed: {up.result.error}")
            revisions.append(_result(s, rev, up, None, None, None))
            stopped_by = f"not rehearsed: because the upgrade of {rev.id} failed"
            continue
        touched_all = None if up.touched is None or touched_all is None else touched_all | up.touched
        data_up = s.data(data, up.touched)
        s.check_database("after-step", revision=rev, touched=up.touched,
                         rows_before=row_counts(data), rows_after=row_counts(data_up))
        down = s.downgrade(rev)
        reup: Step | None = None
        if down.ok:
            result, _ = judge.judge_downgrade(
                schema_before=schema, schema_after=s.schema(), data_before=data,
                data_after=s.data(data_up, down.touched), data_upgraded=data_up, downgrade=down.result,
                classification=s.downgrade_kind(rev), compare_generated_names=s.cfg.compare_generated_names)
            line = judge.failure_line(rev.id, result)
            if line:
                s.ledger.fail(line)
            reup = s.upgrade(rev, phase="reupgrade")
            reups.append(reup.result)
            if not reup.ok:
                s.ledger.fail(f"re-upgrade of {rev.id} failed: {reup.result.error}")
        else:
            result = _failed(s, rev, down)
            reup = _skipped(f"not rehearsed: because the downgrade of {rev.id} failed")
        applied.append(rev)
        revisions.append(_result(s, rev, up, down, reup, result))
        if not reup.ok and not s.restart_at(applied):
            # continue the others from this revision's upgraded state; without a checkpoint the
            # state is unknown, and rehearsing on it would blame them for this one
            stopped_by = (f"not rehearsed: because {rev.id}'s steps left the database in a state no revision "
                          f"describes")
        schema = s.schema()
        # since the fingerprint after the upgrade, only the downgrade and the re-upgrade wrote rows
        both = None if reup.touched is None or down.touched is None else down.touched | reup.touched
        data = s.data(data_up, both) if reup.ok and down.ok else s.data()
    if stopped_by is None:
        s.check_database("after-upgrade", touched=touched_all)
    overall = judge.combine_stairway((r.rollback for r in revisions), (r.downgrade for r in revisions))
    return Outcome(tuple(revisions), overall, _combine(reups) if reups else None)


def _failed(s: Stepper, rev: Revision, down: Step) -> RollbackResult:
    result = judge.judge_failed_downgrade(down.result, s.downgrade_kind(rev), s.tables_with_rows(down.result))
    s.ledger.fail(f"downgrade of {rev.id} failed ({result.classification}): {down.result.error}")
    return result


def _why_not(rev: Revision, failed_upgrade: Revision | None, ups: dict[str, Step]) -> str | None:
    if rev.id not in ups and failed_upgrade is not None:
        return f"not rehearsed: because the upgrade of {failed_upgrade.id} failed"
    return None


def _skipped(why: str) -> Step:
    return Step(StepResult(ok=False, duration_s=0.0, skipped=True, error=why), frozenset())


def _result(s: Stepper, rev: Revision, up: Step | None, down: Step | None, reup: Step | None,
            rollback: RollbackResult | None, *, not_rehearsed: str | None = None) -> RevisionResult:
    upgrade = up.result if up is not None else StepResult(
        ok=False, duration_s=0.0, skipped=True, error=not_rehearsed or "not rehearsed: because an earlier step failed")
    return RevisionResult(id=rev.id, message=rev.message, down_revisions=rev.down_revisions, file=rev.file,
                          upgrade=upgrade, downgrade=down.result if down else None,
                          reupgrade=reup.result if reup else None, rollback=rollback,
                          findings=tuple(s.ledger.by_revision.get(rev.id, ())),
                          not_rehearsed=not_rehearsed if up is None else None)


def _combine(steps: list[StepResult]) -> StepResult:
    failed = next((x for x in steps if not x.ok and not x.skipped), None)
    return StepResult(ok=failed is None, duration_s=round(sum(x.duration_s for x in steps), 6),
                      error=failed.error if failed else None,
                      failed_statement=failed.failed_statement if failed else None)
