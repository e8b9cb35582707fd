"""The step primitives of a rehearsal on one staging database: move one revision, measure, check.

After pytest-alembic's runner: small primitives (upgrade one, downgrade one, fingerprint,
check) that ``modes.release`` and ``modes.stairway`` compose. The stepper owns the staging
connection used for fingerprints and the ledger of findings and failures; it decides nothing
about rollbacks (that is ``rollback.judge``).
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import psycopg2

from ..config import RunConfig
from .checkpoint import Checkpoints
from ..migrate.recreated import with_recreated_rewrites
from ..migrate.runner import AlembicProject, Revision
from ..model import Finding, StagingDatabase, StepResult

Say = Callable[[str], None]


@dataclass
class Timer:
    """Seconds spent per stage, summed over every time the stage is entered."""

    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.perf_counter() - started, 4)


@dataclass
class Ledger:
    """What a rehearsal found so far: findings (report-wide and per revision), failures, warnings."""

    findings: list[Finding] = field(default_factory=list)
    by_revision: dict[str, list[Finding]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    app_checks: list = field(default_factory=list)  # model.AppCheckRun, in the order they ran

    def add(self, found: list[Finding], revision: str | None = None) -> None:
        if revision is None:
            self.findings.extend(found)
        else:
            self.by_revision.setdefault(revision, []).extend(found)

    def fail(self, line: str) -> None:
        self.failures.append(line)


@dataclass(frozen=True)
class Step:
    """One step that ran: its result and the relations it touched (None: unknown)."""

    result: StepResult
    touched: frozenset[str] | None

    @property
    def ok(self) -> bool:
        return self.result.ok


class Stepper:
    """Primitives over one project and one staging database."""

    def __init__(self, cfg: RunConfig, db: StagingDatabase, project: AlembicProject, timer: Timer,
                 say: Say, ledger: Ledger, changed: set[str] | None = None, checkpoints: Checkpoints | None = None) -> None:
        self.cfg, self.db, self.project, self.timer, self.say, self.ledger = cfg, db, project, timer, say, ledger
        self.changed = changed  # revisions rules apply to (None: all)
        self.checkpoints = checkpoints
        self.conn = psycopg2.connect(db.dsn)
        self.conn.autocommit = True
        self._version_names: set[str] | None = None
        # production's query shapes (rehearse.queries): all of them, those that prepared before
        # the upgrade, the busiest ones' plans before it and compared after it
        self.shapes: tuple = ()
        self.large_tables: set[str] = set()
        self.shape_baseline: tuple = ()
        self.plans_before: dict = {}
        self.plans: tuple = ()
        self._still_ok: tuple = ()  # baseline shapes no revision has broken yet

    def close(self) -> None:
        self.conn.close()

    # -- moving ------------------------------------------------------------------------------

    def upgrade(self, rev: Revision, *, phase: str = "upgrade") -> Step:
        step = self._run(rev, upgrade=True, phase=phase)
        if phase == "upgrade":
            self._check_step(rev, step.result, phase)
        return step

    def downgrade(self, rev: Revision) -> Step:
        step = self._run(rev, upgrade=False, phase="downgrade")
        self._check_step(rev, step.result, "downgrade")
        return step

    def _run(self, rev: Revision, *, upgrade: bool, phase: str) -> Step:
        from ..checks.probes import preflight

        traffic = None
        if self.cfg.traffic and phase != "reupgrade":
            from ..migrate.traffic import TrafficProbe
            # with --lock-timeout, traffic holds its locks briefly inside transactions, as real
            # transactions do, so a statement that must wait for them shows up
            traffic = TrafficProbe(self.db.dsn, None, rate=self.cfg.traffic_rate,
                                   lock_timeout_s=self.cfg.lock_timeout_s,
                                   txn_ms=200.0 if self.cfg.lock_timeout_s else 0.0)
        with self.timer.stage(phase):
            if traffic is None:
                result, tracer = self.project.step(rev.id, upgrade=upgrade, preflight=preflight)
            else:
                with traffic:
                    result, tracer = self.project.step(rev.id, upgrade=upgrade, preflight=preflight,
                                                       on_connect=traffic.set_migration_pid,
                                                       on_statement=traffic.note_statement)
                waits = traffic.lock_waits()
                result = dataclasses.replace(
                    result, blocked_traffic=traffic.blocked(), would_fail_lock_timeout=traffic.would_fail(),
                    statements=tuple(dataclasses.replace(s, lock_wait_s=round(waits.get(s.sql, 0.0), 6))
                                     for s in result.statements))
        touched = tracer.touched_relations()
        return Step(with_recreated_rewrites(result), None if touched is None else frozenset(touched))

    def restart_at(self, revisions: list[Revision]) -> bool:
        """Put the database at the state right after upgrading ``revisions`` (in order): the restored
        snapshot, then those upgrades, untraced by the rules. False when no checkpoint is possible."""
        if self.checkpoints is None or not self.checkpoints.available:
            return False
        self.say(f"putting staging back at {revisions[-1].id if revisions else 'the snapshot'} (checkpoint)")
        with self.timer.stage("checkpoint"):
            self.conn.close()
            self.checkpoints.reset()
            self.conn = psycopg2.connect(self.db.dsn)
            self.conn.autocommit = True
            for rev in revisions:
                result, _ = self.project.step(rev.id, upgrade=True)
                if not result.ok:
                    self.ledger.warnings.append(f"could not rebuild the state after {rev.id} for the revisions "
                                                f"that follow: {result.error}")
                    return False
        return True

    def stamp_below(self, rev: Revision) -> None:
        """After a failed downgrade, mark the revision as undone so the earlier ones can be tried."""
        try:
            heads = set(self.project.current_heads())
            heads.discard(rev.id)
            heads |= set(rev.down_revisions)
            self.project.stamp(tuple(sorted(heads)))
        except Exception as exc:
            self.ledger.warnings.append(f"could not continue below {rev.id} after its failed downgrade: {exc}")

    # -- measuring ---------------------------------------------------------------------------

    def schema(self):
        """Schema fingerprint without the version table: Alembic owns it, every step writes it,
        and projects widen its column (``version_num`` to varchar(255)) without narrowing it back."""
        from ..rollback.fingerprint import schema_fingerprint
        with self.timer.stage("fingerprint"):
            fp = schema_fingerprint(self.conn)
        names = self._version_tables()
        kept = tuple(o for o in fp.objects if not (
            o.table in names or o.name in names or any(o.name.startswith(n + ".") for n in names)))
        return fp if len(kept) == len(fp.objects) else dataclasses.replace(fp, objects=kept)

    def _version_tables(self) -> set[str]:
        table, schema = self.project.version_table, self.project.version_table_schema
        if self._version_names is None:
            self._version_names = {f"{schema}.{table}"} if schema else {f"{s}.{table}" for s in self._search_path()}
        return self._version_names

    def data(self, previous=None, touched: frozenset[str] | None = None):
        """Data fingerprint; tables provably unchanged since ``previous`` are not read again."""
        from ..rollback.data import data_fingerprint
        if not self.cfg.data_checks:
            return None
        with self.timer.stage("fingerprint"):
            fp = data_fingerprint(self.conn, since=previous,
                                  touched=set(touched) if previous is not None and touched is not None else None)
        return self._without_version_table(fp)

    def _without_version_table(self, fp):
        """Leave out the version table env.py configured when it is not the default one (a
        ``version_table``/``version_table_schema`` of its own): every step rewrites it by design."""
        if self.project.version_table == "alembic_version" and self.project.version_table_schema is None:
            return fp  # already skipped by the fingerprint itself
        names = self._version_tables()
        kept = tuple(t for t in fp.tables if t.table not in names)
        return fp if len(kept) == len(fp.tables) else dataclasses.replace(fp, tables=kept)

    def _search_path(self) -> list[str]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT unnest(current_schemas(false))")
            return [row[0] for row in cur.fetchall()]

    def tables_with_rows(self, step: StepResult) -> dict[str, int]:
        """Row counts of the tables a (failed) step touched, for its error message."""
        from pglast.visitors import referenced_relations

        from ..rollback.data import tables_with_rows
        relations = {lock.relation for s in step.statements for lock in s.locks}
        for statement in step.statements:
            if not statement.ok:  # a statement that failed took no lock we could see: read its text
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

    def downgrade_kind(self, rev: Revision) -> str:
        from ..rollback.classify import classify_downgrade
        return classify_downgrade(self.project.graph.revision(rev.id))

    # -- checks ------------------------------------------------------------------------------

    def in_scope(self, rev: Revision) -> bool:
        return self.changed is None or rev.id in self.changed

    def _check_step(self, rev: Revision, step: StepResult, phase: str) -> None:
        from ..checks import check_step, get_rule
        if not self.in_scope(rev):
            return
        with self.timer.stage("checks"):
            found = check_step(rev.id, step, phase=phase, server_version_num=self.db.server_version_num,
                               thresholds=self.cfg.check_thresholds)
            if phase == "downgrade":
                # a downgrade drops what its upgrade created by design; what matters there is
                # what it measurably costs (locks, rewrites, time), not the text rules
                found = [f for f in found if get_rule(f.code).kind != "sql"]
        self.ledger.add(found, rev.id)

    def check_database(self, moment: str, *, revision: Revision | None = None,
                       touched: frozenset[str] | None = None, rows_before: dict | None = None,
                       rows_after: dict | None = None) -> list[Finding]:
        """Run the database rules of ``moment``; invariants that do not hold are failures."""
        from ..checks import DatabaseContext, check_database
        if revision is not None and not self.in_scope(revision):
            return []
        if revision is None:
            self.run_app_checks(moment)
        shape_runs, plans, shapes = self._shapes_at(moment) if self.shapes else (None, (), ())
        ctx = DatabaseContext(moment, dsn=self.db.dsn, url=self.db.url,
                              revision=revision.id if revision else None, touched=touched,
                              rows_before=rows_before, rows_after=rows_after,
                              thresholds=self.cfg.check_thresholds, invariants=self.cfg.invariants,
                              models=self.cfg.models if moment == "after-upgrade" else None,
                              project_dir=str(self.project.ini.parent),
                              policy_covers=self._policy_covers() if moment == "after-upgrade" else None,
                              query_shapes=shapes, shape_runs=shape_runs, plans=plans,
                              app_checks=tuple(self.ledger.app_checks))
        with self.timer.stage("checks"):
            found = check_database(ctx)
        self.ledger.add(found, revision.id if revision else None)
        for f in found:
            if f.phase == "invariant" and f.severity in ("high", "critical"):
                self.ledger.fail(f"invariant {f.evidence.get('name', f.evidence.get('invariant', f.name))} "
                                 f"failed {moment}: {f.message}")
        return found

    def _shapes_at(self, moment: str) -> tuple[dict | None, tuple, tuple]:
        """PREPARE the shapes at ``moment``: (what each gave, the plans compared, the shapes to judge).

        Before the upgrade this sets the baseline (the shapes that prepare) and measures the plans.
        A shape is judged after the first revision that breaks it, not again after the next ones;
        after the rollback every baseline shape is judged again, on the rolled-back schema."""
        from ..queries import compat, downtime, plans
        busiest = lambda: self.shape_baseline[: self.cfg.plan_top]  # noqa: E731  (shapes are busiest first)
        with self.timer.stage("queries"):
            if moment == "before-upgrade":
                runs = compat.prepare_all(self.db.dsn, self.shapes)
                self.shape_baseline = tuple(s for s in self.shapes if runs[s.fingerprint].ok)
                failing = len(self.shapes) - len(self.shape_baseline)
                if failing:
                    self.ledger.warnings.append(
                        f"{failing} captured query shape(s) do not prepare on the snapshot's schema before the "
                        f"upgrade (they are not checked): {next(r.error for r in runs.values() if not r.ok)}")
                self._still_ok = self.shape_baseline
                if self.cfg.plan_top:
                    self.plans_before = plans.measure(self.db.dsn, busiest(), budget_s=self.cfg.plan_budget_s)
                return None, (), ()
            runs = compat.prepare_all(self.db.dsn, self.shape_baseline)
            judged = self.shape_baseline if moment == "after-rollback" else self._still_ok
            if moment == "after-step":
                self._still_ok = tuple(s for s in self._still_ok if runs[s.fingerprint].ok)
            if moment != "after-upgrade" or not self.plans_before:
                return runs, (), judged
            after = plans.measure(self.db.dsn, busiest(), budget_s=self.cfg.plan_budget_s,
                                  params={fp: r.params for fp, r in self.plans_before.items()})
            self.plans = downtime.compare(busiest(), self.plans_before, after,
                                          noise=self.cfg.check_thresholds.duration_noise,
                                          large_tables=self.large_tables)
            return runs, self.plans, judged


    def run_app_checks(self, moment: str) -> None:
        """Each --app-check command of ``moment`` once against staging, in the project's folder."""
        from ..appcheck import run_app_check
        for check in self.cfg.app_checks:
            if moment not in check.at:
                continue
            self.say(f"app check at {moment}: {check.command}")
            with self.timer.stage("app-checks"):
                run = run_app_check(check.command, self.db, moment=moment, env_name=check.env,
                                    timeout_s=check.timeout_s, cwd=str(self.project.ini.parent))
            self.ledger.app_checks.append(run)
            if not run.ok:
                self.say(f"app check {'timed out' if run.timed_out else 'failed'} at {moment}: {check.command}")

    def _policy_covers(self) -> Any:
        if self.cfg.policy is None:
            return None
        from ..anonymize.policy import load_policy
        policy = load_policy(self.cfg.policy)

        def covers(schema: str, table: str, column: str) -> bool:
            t = policy.table(schema, table)
            return t is not None and (t.skip_data or column in t.columns)
        return covers


def row_counts(fp) -> dict[str, int] | None:
    """Rows per table of a data fingerprint (None without data checks)."""
    if fp is None:
        return None
    return {t.table: t.rows for t in fp.tables}
