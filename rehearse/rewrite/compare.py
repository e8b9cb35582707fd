"""Rehearse a rewrite on the same data as the original and compare them side by side.

Both sides start from the same restore of the snapshot (the first populates a kept template,
the second is cloned from it, as ``--reuse`` does), are brought to the revision's parent,
and then run, traced: the original revision on one side, the rewritten release(s) on the
other. Then: lock mode and hold, duration, traffic blocked, and the end schema and data
fingerprints, which must be equal. The rewrite's own downgrade is run last, to prove it.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import psycopg2

from ..migrate.runner import AlembicProject
from ..model import LockTaken, RewriteSide, Snapshot, StepResult

_IGNORED_DIRS = (".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache")
_ROW_WRITERS = ("UPDATE", "DELETE", "INSERT")


@dataclass(frozen=True)
class SideRun:
    side: RewriteSide
    steps: tuple[StepResult, ...]
    schema: object
    data: object
    rollback_ok: bool | None = None
    rollback_error: str | None = None


@contextmanager
def project_copy(alembic_ini: Path, original_file: Path, files: Sequence[tuple[str, str]]) -> Iterator[Path]:
    """A temporary copy of the project whose revision file is replaced by the rewritten file(s);
    yields the copy's alembic.ini."""
    root = alembic_ini.resolve().parent
    original = original_file.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="rehearse-rewrite-"))
    try:
        copy = tmp / root.name
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns(*_IGNORED_DIRS), symlinks=True)
        try:
            relative = original.relative_to(root)
        except ValueError:
            from ..errors import BadInput
            raise BadInput(f"revision file {original} is outside the folder of {alembic_ini}",
                           hint="run from a project whose versions live under the alembic.ini folder") from None
        (copy / relative).unlink()
        for name, text in files:
            (copy / relative.parent / name).write_text(text)
        yield copy / alembic_ini.name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_NON_BLOCKING = ("CREATE INDEX CONCURRENTLY", "CREATE UNIQUE INDEX CONCURRENTLY", "DROP INDEX CONCURRENTLY",
                 "SET ", "RESET ", "SELECT ", "SHOW ")


def _may_lock_exclusively(sql: str) -> bool:
    text = " ".join(sql.split()).upper()
    return not text.startswith(_NON_BLOCKING) and " VALIDATE CONSTRAINT " not in text and not text.startswith(
        _ROW_WRITERS)


def _written_table(sql: str) -> str:
    from pglast.visitors import referenced_relations
    try:
        return sorted(referenced_relations(sql))[0]
    except Exception:  # noqa: BLE001  unparsable: name the rows, not a table
        return "the rows it wrote"


def worst_lock(steps: Sequence[StepResult]) -> tuple[LockTaken | None, float]:
    """The longest-held lock that makes the application wait: one that blocks reads or writes
    of the table, or the row locks of an UPDATE/DELETE held until its transaction ends."""
    worst, held = None, 0.0
    for step in steps:
        for statement in step.statements:
            writes_rows = statement.sql.lstrip().upper().startswith(_ROW_WRITERS)
            locks = list(statement.locks)
            if writes_rows and not statement.in_transaction and not any(
                    lock.mode == "RowExclusiveLock" for lock in locks):
                # an autocommit batch can end before the lock sampler sees it: its row locks
                # lasted as long as the statement
                relation = _written_table(statement.sql)
                locks.append(LockTaken(relation, "RowExclusiveLock", False, False, statement.duration_s, rows=0))
            elif not statement.in_transaction and not locks and _may_lock_exclusively(statement.sql):
                # a brief autocommit DDL statement can also end between two samples: count the
                # strongest lock it might take, for as long as it ran (pessimistic, never flattering)
                locks.append(LockTaken(_written_table(statement.sql), "AccessExclusiveLock", True, True,
                                       statement.duration_s))
            for lock in locks:
                blocking = lock.blocks_reads or lock.blocks_writes or (
                    writes_rows and lock.mode == "RowExclusiveLock" and lock.rows is not None)
                seconds = lock.held_s if lock.held_s is not None else statement.duration_s
                if blocking and seconds > held:
                    worst, held = lock, seconds
    return worst, held


def rehearse_side(snapshot: Snapshot, alembic_ini: Path, parent: str | tuple[str, ...] | None,
                  revisions: Sequence[str], *, staging: str = "local", traffic: bool = False,
                  traffic_rate: float = 20.0, downgrade: bool = False,
                  say: Callable[[str], None] = lambda _: None) -> SideRun:
    """Restore (or clone) the snapshot, upgrade to ``parent``, then run ``revisions`` traced."""
    from ..checks.probes import preflight
    from ..rollback.data import data_fingerprint
    from ..rollback.fingerprint import schema_fingerprint
    from ..snapshot.restore import restore_snapshot
    from ..staging import open_staging

    def populate(db) -> None:
        say(f"restoring {snapshot.total_rows:,} rows (kept as a template for the other side)")
        restore_snapshot(snapshot, db)

    with open_staging(staging, run_id=f"rw{uuid.uuid4().hex[:8]}", source=snapshot.source,
                      reuse_key=snapshot.checksum, populate=populate,
                      expected_bytes=6 * sum(t.bytes for t in snapshot.tables)) as db, \
            AlembicProject(alembic_ini, url=db.url) as project:
        parents = () if parent is None else (parent,) if isinstance(parent, str) else tuple(parent)
        for target in parents:
            for rev in project.plan(target).revisions:
                step, _ = project.step(rev.id, upgrade=True)
                if not step.ok:
                    return SideRun(RewriteSide(False, 0.0, error=f"could not reach {target}: {step.error}"),
                                   (), None, None)
        steps: list[StepResult] = []
        blocked: list[float] = []
        for rev_id in revisions:
            if traffic:
                from ..migrate.traffic import TrafficProbe
                probe = TrafficProbe(db.dsn, None, rate=traffic_rate)
                with probe:
                    step, _ = project.step(rev_id, upgrade=True, preflight=preflight,
                                           on_connect=probe.set_migration_pid, on_statement=probe.note_statement)
                blocked += [b.blocked_s for b in probe.blocked()]
            else:
                step, _ = project.step(rev_id, upgrade=True, preflight=preflight)
            steps.append(step)
            if not step.ok:
                break
        ok = all(s.ok for s in steps)
        lock, held = worst_lock(steps)
        side = RewriteSide(ok=ok, duration_s=round(sum(s.duration_s for s in steps), 6),
                           lock_mode=lock.mode if lock else None, lock_relation=lock.relation if lock else None,
                           lock_held_s=round(held, 6), blocked_s=round(max(blocked), 6) if traffic and blocked
                           else (0.0 if traffic else None),
                           error=next((s.error for s in steps if not s.ok), None))
        schema = data = None
        rollback_ok = rollback_error = None
        if ok:
            conn = psycopg2.connect(db.dsn)
            conn.autocommit = True
            try:
                schema = schema_fingerprint(conn)
                data = data_fingerprint(conn)
            finally:
                conn.close()
            if downgrade:
                rollback_ok = True
                for rev_id in reversed(revisions):
                    down, _ = project.step(rev_id, upgrade=False)
                    if not down.ok:
                        rollback_ok, rollback_error = False, down.error
                        break
        return SideRun(side, tuple(steps), schema, data, rollback_ok, rollback_error)


def differences(original: SideRun, rewritten: SideRun) -> tuple[list[str], list[str]]:
    """(schema differences, data differences) between the two end states, one line each."""
    from ..rollback.data import diff_data
    from ..rollback.fingerprint import diff_schema
    schema = [f"{d.object}: original {d.before or 'absent'}, rewrite {d.after or 'absent'}"
              for d in diff_schema(original.schema, rewritten.schema)]
    data = [d.message or d.table for d in diff_data(original.data, rewritten.data)]
    return schema, data
