"""The rehearsal: runs the stages in order, times them, and always tears staging down.

snapshot -> staging (restore) -> upgrade revision by revision (traced, checked) ->
downgrade step by step (each compared with the state before its upgrade) -> re-upgrade ->
Report. Stages meet only through ``rehearse.model``; this module wires them together.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg2

from . import __version__
from .config import RunConfig, secret_from_env
from .errors import BadInput
from .migrate.runner import AlembicProject, Plan, Revision, check_project
from .model import (DataDiff, Finding, Report, RevisionResult, RollbackResult, Snapshot,
                    StagingDatabase, StepResult)
from .urls import redact

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclasses.dataclass
class _Timer:
    stages: dict[str, float] = dataclasses.field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.perf_counter() - started, 4)


def run_rehearsal(cfg: RunConfig, *, say: Say = _quiet, progress: bool = False) -> Report:
    """Rehearse ``cfg.alembic_ini``'s migrations on a throwaway copy; returns the Report."""
    from .snapshot.format import read_snapshot
    from .snapshot.pull import pull_snapshot
    from .snapshot.restore import restore_snapshot
    from .staging import open_staging
    from .staging.gc import collect

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    timer = _Timer()
    warnings: list[str] = []
    run_id = uuid.uuid4().hex[:10]

    # fail fast on a bad project before touching any database (revision files are imported only
    # in the child, once the staging URL exists: project code may read it at import time)
    check_project(cfg.alembic_ini, cfg.python)

    try:
        collect(quiet=True)
    except Exception as exc:  # a failed sweep of old runs must not stop this one
        warnings.append(f"could not clean up resources of earlier runs: {exc}")

    with ExitStack() as stack:
        with timer.stage("snapshot"):
            if cfg.snapshot is not None:
                say(f"reading snapshot {cfg.snapshot}")
                snapshot = read_snapshot(cfg.snapshot, verify=True)
                source_label = str(cfg.snapshot)
            else:
                out = cfg.snapshot_out
                if out is None:
                    tmp = Path(tempfile.mkdtemp(prefix="rehearse-snap-"))
                    stack.callback(shutil.rmtree, tmp, True)
                    out = tmp / "snapshot"
                say(f"pulling an anonymized snapshot of {redact(cfg.source)}")
                snapshot = pull_snapshot(cfg.source, out, policy_path=cfg.policy, secret=secret_from_env(),
                                         strict=cfg.strict, progress=progress)
                source_label = redact(cfg.source)

        def populate(db: StagingDatabase) -> None:
            with timer.stage("restore"):
                say(f"restoring {snapshot.total_rows:,} rows into {db.kind} staging")
                restore_snapshot(snapshot, db, progress=progress)

        with timer.stage("staging"):
            staging_cm = open_staging(cfg.staging, run_id=run_id, source=snapshot.source, keep=cfg.keep,
                                      image=cfg.image, reuse_key=snapshot.checksum if cfg.reuse else None,
                                      populate=populate,
                                      # data files are zstd-compressed (~4x); indexes come on top
                                      expected_bytes=6 * sum(t.bytes for t in snapshot.tables))
            db = stack.enter_context(staging_cm)
        timer.stages["staging"] = round(timer.stages["staging"] - timer.stages.get("restore", 0.0), 4)
        warnings.extend(db.warnings)
        if db.from_template:
            say("staging cloned from a kept restore of this snapshot (--reuse)")
        _assert_owned(db)

        rehearsal = _Rehearsal(cfg, db, snapshot, timer, say)
        report = rehearsal.run()
        if cfg.keep:
            say(f"staging kept: {db.connect_hint or redact(db.url)}")

    report = dataclasses.replace(
        report, source=source_label, snapshot=str(snapshot.path), staging=db.kind,
        started_at=started_at, duration_s=round(time.perf_counter() - t0, 3), stages=dict(timer.stages),
        warnings=tuple(warnings) + report.warnings, tool_version=__version__)
    return _finish(report, cfg)


def _assert_owned(db: StagingDatabase) -> None:
    from . import staging
    check = getattr(staging, "assert_owned", None)
    if check is not None:
        check(db)


def _finish(report: Report, cfg: RunConfig) -> Report:
    from .checks.baseline import apply_baseline, load_baseline
    from .risk import RiskThresholds, assess

    if cfg.baseline is not None:
        baseline = load_baseline(cfg.baseline)
        report = dataclasses.replace(
            report,
            findings=tuple(apply_baseline(list(report.findings), baseline)),
            revisions=tuple(dataclasses.replace(r, findings=tuple(apply_baseline(list(r.findings), baseline)))
                            for r in report.revisions))
    raw = cfg.thresholds.get("risk") if isinstance(cfg.thresholds, dict) else None
    return assess(report, thresholds=RiskThresholds.from_mapping(raw))


class _Rehearsal:
    """One rehearsal on one staging database (release or stairway mode)."""

    def __init__(self, cfg: RunConfig, db: StagingDatabase, snapshot: Snapshot, timer: _Timer, say: Say):
        self.cfg, self.db, self.snapshot, self.timer, self.say = cfg, db, snapshot, timer, say
        self.conn = psycopg2.connect(db.dsn)
        self.conn.autocommit = True
        try:
            self.project = AlembicProject(cfg.alembic_ini, url=db.url, url_env=cfg.url_env, python=cfg.python,
                                          flask_app=cfg.flask_app, statement_timeout_s=cfg.statement_timeout_s)
        except BaseException:
            self.conn.close()
            raise
        self.findings: list[Finding] = []
        self.failures: list[str] = []
        self.warnings: list[str] = []
        self.rev_findings: dict[str, list[Finding]] = {}
        from .checks import Thresholds
        raw = (cfg.thresholds or {}).get("checks") if isinstance(cfg.thresholds, dict) else None
        self.check_thresholds = Thresholds.from_mapping(raw) if raw else Thresholds()

    # -- fingerprints ---------------------------------------------------------------------

    def schema_fp(self):
        from .rollback.fingerprint import schema_fingerprint
        with self.timer.stage("fingerprint"):
            return schema_fingerprint(self.conn)

    def data_fp(self, previous=None, touched: set[str] | None = None):
        """Data fingerprint; tables provably unchanged since ``previous`` are not read again."""
        from .rollback.data import data_fingerprint
        if not self.cfg.data_checks:
            return None
        with self.timer.stage("fingerprint"):
            fp = data_fingerprint(self.conn, since=previous, touched=touched if previous is not None else None)
        return self._without_version_table(fp)

    def _without_version_table(self, fp):
        """Leave out the version table env.py configured when it is not the default one (a
        ``version_table``/``version_table_schema`` of its own): every step rewrites it by design."""
        table, schema = self.project.version_table, self.project.version_table_schema
        if table == "alembic_version" and schema is None:
            return fp  # already skipped by the fingerprint itself
        names = {f"{schema}.{table}"} if schema else {f"{s}.{table}" for s in self._search_path()}
        kept = tuple(t for t in fp.tables if t.table not in names)
        return fp if len(kept) == len(fp.tables) else dataclasses.replace(fp, tables=kept)

    def _search_path(self) -> list[str]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT unnest(current_schemas(false))")
            return [row[0] for row in cur.fetchall()]

    # -- steps ------------------------------------------------------------------------------

    def step(self, rev: Revision, *, upgrade: bool, phase: str) -> tuple[StepResult, set[str] | None]:
        from .checks.probes import preflight

        traffic = None
        if self.cfg.traffic and phase != "reupgrade":
            from .migrate.traffic import TrafficProbe
            # with --lock-timeout, traffic holds its locks briefly inside transactions, as real
            # transactions do, so a statement that must wait for them shows up
            traffic = TrafficProbe(self.db.dsn, None, rate=self.cfg.traffic_rate,
                                   lock_timeout_s=self.cfg.lock_timeout_s,
                                   txn_ms=200.0 if self.cfg.lock_timeout_s else 0.0)
        with self.timer.stage(phase):
            if traffic is not None:
                with traffic:
                    result, tracer = self.project.step(rev.id, upgrade=upgrade, preflight=preflight,
                                                       on_connect=traffic.set_migration_pid,
                                                       on_statement=traffic.note_statement)
                waits = traffic.lock_waits()
                result = dataclasses.replace(
                    result, blocked_traffic=traffic.blocked(), would_fail_lock_timeout=traffic.would_fail(),
                    statements=tuple(dataclasses.replace(s, lock_wait_s=round(waits.get(s.sql, 0.0), 6))
                                     for s in result.statements))
            else:
                result, tracer = self.project.step(rev.id, upgrade=upgrade, preflight=preflight)
        return result, tracer.touched_relations()

    def check(self, rev: Revision, step: StepResult, phase: str) -> None:
        from .checks import check_step
        if self.cfg.changed_since and rev.id not in self.changed:
            return
        with self.timer.stage("checks"):
            found = check_step(rev.id, step, phase=phase, server_version_num=self.db.server_version_num,
                               thresholds=self.check_thresholds)
            if phase == "downgrade":
                # a downgrade drops what its upgrade created by design; what matters there is
                # what it measurably costs (locks, rewrites, time), not the text rules
                from .checks import get_rule
                found = [f for f in found if getattr(get_rule(f.code), "kind", "") != "sql"]
        self.rev_findings.setdefault(rev.id, []).extend(found)

    # -- the whole rehearsal -----------------------------------------------------------------

    def run(self) -> Report:
        try:
            plan = self.project.plan(self.cfg.target)
            self.changed = self._changed_revisions(plan)
            self.say(f"{len(plan.revisions)} revision(s) to rehearse from "
                     f"{', '.join(plan.start) or 'base'} to {', '.join(plan.target) or 'base'}")
            self._graph_checks()
            self._invariants("before-upgrade")
            if self.cfg.mode == "stairway":
                revisions, overall, reup = self._stairway(plan)
            else:
                revisions, overall, reup = self._release(plan)
            self._invariants("after-rollback" if self.cfg.mode == "release" else "after-upgrade")
        finally:
            self.project.close()  # ends the child; a statement still running is cancelled first
            self.conn.close()
        outcome = "fail" if self.failures else "pass"
        return Report(
            source="", start_revision=", ".join(plan.start) or None,
            target_revision=", ".join(plan.target) or None, revisions=tuple(revisions), rollback=overall,
            reupgrade=reup, outcome=outcome, findings=tuple(self.findings), failures=tuple(self.failures),
            warnings=tuple(self.warnings),
            scope=tuple(r.id for r in plan.revisions if r.id in self.changed) if self.cfg.changed_since else ())

    def _changed_revisions(self, plan: Plan) -> set[str]:
        """--changed-since takes a revision id (rules apply to what comes after it) or a git ref
        (rules apply to revisions whose files changed since that ref, as in a pull request)."""
        since = self.cfg.changed_since
        if not since:
            return {r.id for r in plan.revisions}
        if self.project.known(since):
            return {r.id for r in self.project.plan(None, start=(since,)).revisions}
        changed_files = _git_changed_files(self.project.ini.parent, since)
        return {r.id for r in plan.revisions if r.file and Path(r.file).resolve() in changed_files}

    def _graph_checks(self) -> None:
        from .checks import check_graph
        with self.timer.stage("checks"):
            self.findings.extend(check_graph(self.project.graph))

    def _invariants(self, phase: str) -> None:
        if not self.cfg.invariants:
            return
        from .checks.invariants import run_invariants
        with self.timer.stage("checks"):
            found = run_invariants(self.db.dsn, self.cfg.invariants, phase)
        self.findings.extend(found)
        for f in found:
            if f.severity in ("high", "critical"):
                self.failures.append(f"invariant {f.evidence.get('name', f.name)} failed {phase}: {f.message}")

    def _after_upgrade_checks(self, touched_all: set[str] | None) -> None:
        from .checks import check_schema
        with self.timer.stage("checks"):
            self.findings.extend(check_schema(self.db.dsn, only_tables=touched_all))
            if self.cfg.models:
                from .checks.drift import compare_models
                self.findings.extend(compare_models(self.db.url, self.cfg.models,
                                                    project_dir=self.project.ini.parent))
            if self.cfg.policy is not None:
                from .anonymize.policy import load_policy, uncovered_columns
                from .checks import Hit, get_rule
                rule = get_rule("require-policy-coverage")
                for column in uncovered_columns(load_policy(self.cfg.policy), self.db.dsn):
                    self.findings.append(rule.finding(Hit(
                        f"column {column} exists after the upgrade but the anonymization policy does not "
                        f"cover it: the next strict snapshot will refuse to run", {"column": column})))

    def _release(self, plan: Plan):
        """Upgrade the whole range one revision at a time, then downgrade it step by step."""
        ups: dict[str, StepResult] = {}
        schema_before: dict[str, Any] = {}
        data_before: dict[str, Any] = {}
        data_after_up: dict[str, Any] = {}
        start_schema = schema = self.schema_fp()
        start_data = data = self.data_fp()
        applied: list[Revision] = []
        touched_all: set[str] | None = set()
        for rev in plan.revisions:
            schema_before[rev.id], data_before[rev.id] = schema, data
            self.say(f"upgrade {rev.id}  {rev.message}")
            result, touched = self.step(rev, upgrade=True, phase="upgrade")
            ups[rev.id] = result
            self.check(rev, result, "upgrade")
            if not result.ok:
                self.failures.append(f"upgrade of {rev.id} failed: {result.error}")
                break
            applied.append(rev)
            touched_all = None if touched is None or touched_all is None else touched_all | touched
            schema = self.schema_fp()
            data = self.data_fp(data, touched)
            data_after_up[rev.id] = data
        if applied and len(applied) == len(plan.revisions):
            self._after_upgrade_checks(touched_all)
            self._invariants("after-upgrade")

        downs: dict[str, StepResult] = {}
        rollbacks: dict[str, RollbackResult] = {}
        residue: str | None = None
        for rev in reversed(applied):
            self.say(f"downgrade {rev.id}")
            result, touched = self.step(rev, upgrade=False, phase="downgrade")
            downs[rev.id] = result
            self.check(rev, result, "downgrade")
            if not result.ok:
                rollbacks[rev.id] = self._failed_rollback(rev, result)
                self._stamp_down(rev)
                residue = residue or rev.id
                data = self.data_fp(data, None)
                continue
            after_schema = self.schema_fp()
            data = self.data_fp(data, touched)
            rollbacks[rev.id] = self._compare(rev, schema_before[rev.id], after_schema, data_before[rev.id],
                                              data, data_after_up.get(rev.id), result, residue)
        overall = self._overall(start_schema, start_data, applied, data)

        reups: dict[str, StepResult] = {}
        for rev in applied:
            self.say(f"re-upgrade {rev.id}")
            result, _ = self.step(rev, upgrade=True, phase="reupgrade")
            reups[rev.id] = result
            if not result.ok:
                self.failures.append(f"re-upgrade of {rev.id} failed: {result.error}")
                break
        reupgrade = _combine(list(reups.values())) if reups else None
        revisions = [self._result(rev, ups.get(rev.id), downs.get(rev.id), reups.get(rev.id),
                                  rollbacks.get(rev.id), applied) for rev in plan.revisions]
        return revisions, overall, reupgrade

    def _stairway(self, plan: Plan):
        """For each revision: upgrade, downgrade, upgrade again, before moving to the next."""
        revisions = []
        schema = self.schema_fp()
        data = self.data_fp()
        applied: list[Revision] = []
        reups = []
        touched_all: set[str] | None = set()
        stopped = False
        for rev in plan.revisions:
            if stopped:
                revisions.append(self._result(rev, None, None, None, None, applied))
                continue
            self.say(f"stairway {rev.id}  {rev.message}")
            up, touched = self.step(rev, upgrade=True, phase="upgrade")
            self.check(rev, up, "upgrade")
            if not up.ok:
                self.failures.append(f"upgrade of {rev.id} failed: {up.error}")
                revisions.append(self._result(rev, up, None, None, None, applied))
                stopped = True
                continue
            touched_all = None if touched is None or touched_all is None else touched_all | touched
            data_up = self.data_fp(data, touched)
            down, touched_down = self.step(rev, upgrade=False, phase="downgrade")
            self.check(rev, down, "downgrade")
            if down.ok:
                after_schema = self.schema_fp()
                after_data = self.data_fp(data_up, touched_down)
                rollback = self._compare(rev, schema, after_schema, data, after_data, data_up, down, None)
            else:
                rollback = self._failed_rollback(rev, down)
                self._stamp_down(rev)
            reup, touched_re = self.step(rev, upgrade=True, phase="reupgrade")
            reups.append(reup)
            if not reup.ok:
                self.failures.append(f"re-upgrade of {rev.id} failed: {reup.error}")
                stopped = True
            applied.append(rev)
            revisions.append(self._result(rev, up, down, reup, rollback, applied))
            schema = self.schema_fp()
            data = self.data_fp(data_up, None)
        if not stopped:
            self._after_upgrade_checks(touched_all)
            self._invariants("after-upgrade")
        overall = RollbackResult(
            ok=all(r.rollback is None or r.rollback.ok for r in revisions),
            classification="reversible" if all(r.rollback is None or r.rollback.ok for r in revisions)
            else "irreversible",
            schema_diff=tuple(d for r in revisions if r.rollback for d in r.rollback.schema_diff),
            data_diff=tuple(d for r in revisions if r.rollback for d in r.rollback.data_diff),
            duration_s=round(sum(r.downgrade.duration_s for r in revisions if r.downgrade), 6))
        return revisions, overall, _combine(reups) if reups else None

    # -- comparisons ---------------------------------------------------------------------------

    def _compare(self, rev: Revision, schema_before, schema_after, data_before, data_after, data_up,
                 down: StepResult, residue: str | None) -> RollbackResult:
        from .rollback.classify import classify_downgrade
        from .rollback.verify import compare_step

        classification = classify_downgrade(self.project.graph.revision(rev.id))
        result = compare_step(schema_before, schema_after, data_before, data_after,
                              compare_generated_names=self.cfg.compare_generated_names,
                              classification=classification)
        result = self._without_residue(result, rev)
        lost = self._lost_since_upgrade(data_up, data_after)
        if lost:
            result = dataclasses.replace(result, data_diff=result.data_diff + lost,
                                         classification="data-loss" if result.ok else result.classification)
        result = dataclasses.replace(result, duration_s=down.duration_s)
        if not result.ok:
            why = "; ".join(d.message for d in (*result.schema_diff, *result.data_diff)[:3])
            note = f" (compared after the failed downgrade of {residue})" if residue else ""
            self.failures.append(f"downgrade of {rev.id} does not restore the database{note}: {why}")
        return result

    def _without_residue(self, result: RollbackResult, rev: Revision) -> RollbackResult:
        """Leave out what a later revision's imperfect downgrade left behind: in release mode it is
        still there when this revision is compared, and it is that revision's fault, not this one's."""
        residue = getattr(self, "_residue", set())
        own = tuple(d for d in result.schema_diff if (d.object, d.kind, d.after) not in residue)
        own_data = tuple(d for d in result.data_diff
                         if (d.table, tuple(d.columns_changed), d.rows_after) not in residue)
        self._residue = residue | {(d.object, d.kind, d.after) for d in own} | {
            (d.table, tuple(d.columns_changed), d.rows_after) for d in own_data}
        if own == result.schema_diff and own_data == result.data_diff:
            return result
        ok = not own and not own_data
        classification = result.classification
        if ok:
            classification = "reversible"
        elif not own_data and classification == "data-loss":
            classification = "irreversible"
        return dataclasses.replace(result, ok=ok, schema_diff=own, data_diff=own_data,
                                   classification=classification, error=None if ok else result.error)

    def _lost_since_upgrade(self, data_up, data_after) -> tuple[DataDiff, ...]:
        """Values the upgrade wrote that the downgrade throws away (not a failure, a risk)."""
        if data_up is None or data_after is None:
            return ()
        from .rollback.data import diff_data
        diffs = []
        for d in diff_data(data_up, data_after):
            if d.rows_after is None and d.rows_before == 0:
                continue  # an empty table the upgrade created and the downgrade dropped: nothing lost
            if d.columns_changed or d.rows_after is None or d.rows_after != d.rows_before:
                diffs.append(dataclasses.replace(
                    d, message=f"values written by the upgrade are discarded by the downgrade: {d.message}"))
        return tuple(diffs)

    def _failed_rollback(self, rev: Revision, down: StepResult) -> RollbackResult:
        from .rollback.classify import classify_downgrade
        kind = classify_downgrade(self.project.graph.revision(rev.id))
        classification = {"missing": "missing", "pass": "irreversible", "raises": "irreversible"}.get(kind, "broken")
        self.failures.append(f"downgrade of {rev.id} failed ({classification}): {down.error}")
        touched = self._tables_with_rows(down)
        error = down.error
        if touched:
            error = f"{error} (tables it touched hold data: {', '.join(f'{t} {n:,} rows' for t, n in touched.items())})"
        return RollbackResult(ok=False, classification=classification, duration_s=down.duration_s, error=error)

    def _tables_with_rows(self, step: StepResult) -> dict[str, int]:
        from .rollback.data import tables_with_rows
        relations = {lock.relation for s in step.statements for lock in s.locks}
        # a statement that failed took no lock we could see: name its tables from its text
        from pglast.visitors import referenced_relations
        for statement in step.statements:
            if not statement.ok:
                try:
                    relations |= set(referenced_relations(statement.sql))
                except Exception:
                    pass
        if not relations:
            return {}
        try:
            return tables_with_rows(self.conn, relations)
        except Exception:
            return {}

    def _stamp_down(self, rev: Revision) -> None:
        """After a failed downgrade, mark the revision as undone so the earlier ones can be tried."""
        try:
            heads = set(self.project.current_heads())
            heads.discard(rev.id)
            heads |= set(rev.down_revisions)
            self.project.stamp(tuple(sorted(heads)))
        except Exception as exc:
            self.warnings.append(f"could not continue below {rev.id} after its failed downgrade: {exc}")

    def _overall(self, start_schema, start_data, applied: list[Revision], latest_data=None) -> RollbackResult:
        from .rollback.verify import compare_step
        if not applied:
            return RollbackResult(ok=True, classification="not-run")
        end_schema = self.schema_fp()
        end_data = self.data_fp(latest_data, set()) if latest_data is not None else self.data_fp()
        result = compare_step(start_schema, end_schema, start_data, end_data,
                              compare_generated_names=self.cfg.compare_generated_names)
        if not result.ok:
            self.failures.append("the database after the full downgrade differs from the database before "
                                 "the upgrade")
        return result

    def _result(self, rev: Revision, up: StepResult | None, down: StepResult | None,
                reup: StepResult | None, rollback: RollbackResult | None,
                applied: list[Revision]) -> RevisionResult:
        if up is None:
            up = StepResult(ok=False, duration_s=0.0, skipped=True, error="not run: an earlier step failed")
        return RevisionResult(id=rev.id, message=rev.message, down_revisions=rev.down_revisions, file=rev.file,
                              upgrade=up, downgrade=down, reupgrade=reup, rollback=rollback,
                              findings=tuple(self.rev_findings.get(rev.id, ())))


def _git_changed_files(folder: Path, ref: str) -> set[Path]:
    import subprocess
    try:
        top = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, check=True).stdout.strip()
        diff = subprocess.run(["git", "-C", top, "diff", "--name-only", f"{ref}...HEAD"], capture_output=True,
                              text=True)
        if diff.returncode != 0:
            diff = subprocess.run(["git", "-C", top, "diff", "--name-only", ref], capture_output=True, text=True)
        if diff.returncode != 0:
            raise BadInput(f"--changed-since {ref} is neither a revision of this project nor a git ref",
                           hint="give a revision id, or a git ref such as origin/main")
        untracked = subprocess.run(["git", "-C", top, "ls-files", "--others", "--exclude-standard"],
                                   capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise BadInput(f"--changed-since {ref} is not a revision of this project, and the project is not in a "
                       f"git checkout", hint="give a revision id") from None
    names = diff.stdout.split() + untracked.split()
    return {(Path(top) / name).resolve() for name in names}


def _combine(steps: list[StepResult]) -> StepResult:
    failed = next((s for s in steps if not s.ok), None)
    return StepResult(ok=failed is None, duration_s=round(sum(s.duration_s for s in steps), 6),
                      error=failed.error if failed else None,
                      failed_statement=failed.failed_statement if failed else None)
