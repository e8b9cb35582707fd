"""The rehearsal: runs the stages in order, times them, and always tears staging down.

snapshot -> staging (restore) -> the history, through ``modes.release`` or ``modes.stairway``
(composed from ``stepper.Stepper``'s primitives) -> risk assessment -> Report. Stages meet
only through ``rehearse.model``; this package wires them together. ``preflight`` checks every
input that can be checked without a database, before any work starts.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..config import RunConfig
from ..errors import BadInput
from ..migrate.runner import AlembicProject, Plan
from ..model import QueryForecast, QueryShapes, Report, Snapshot, StagingDatabase
from ..urls import redact
from . import modes
from .stepper import Ledger, Say, Stepper, Timer

# fail fast on a bad project before touching any database (a placeholder URL: nothing connects)
_NO_DATABASE = "postgresql+psycopg2://check@localhost/check"


def _quiet(_: str) -> None:
    pass


def preflight(cfg: RunConfig) -> Snapshot | None:
    """Check every input that needs no database; returns the snapshot's manifest when given one.

    A wrong --to, a snapshot at a revision the project does not know, an unreadable baseline or
    policy, an unwritable report directory: each is one line and exit 2 here, in well under a
    second, instead of after the restore.
    """
    from ..checks.baseline import load_baseline
    from ..report import writable_report_dir

    # the project loads in its own interpreter: a throwaway child reads the revision graph (nothing
    # connects; with --url-env or --flask-app the project's code sees a placeholder URL, and a
    # project that cannot load with it is left for the real run to judge)
    graph_project = None
    try:
        graph_project = AlembicProject(cfg.alembic_ini, url=_NO_DATABASE, url_env=cfg.url_env, python=cfg.python,
                                       flask_app=cfg.flask_app)
    except BadInput:
        if cfg.url_env is None and cfg.flask_app is None:
            raise
    try:
        if graph_project is not None:
            _check_revisions(cfg, graph_project)
    finally:
        if graph_project is not None:
            graph_project.close()
    snapshot = None
    if cfg.snapshot is not None:
        from ..snapshot.format import read_snapshot
        snapshot = read_snapshot(cfg.snapshot, verify=False)
        if graph_project is not None:
            unknown = [r for r in snapshot.source.alembic_revisions if not graph_project.known(r)]
            if unknown:
                raise BadInput(f"snapshot {cfg.snapshot} is at revision {', '.join(unknown)}, which the project "
                               f"at {cfg.alembic_ini} does not know",
                               hint="the snapshot belongs to another project or branch; check --alembic-ini")
    if cfg.baseline is not None:
        load_baseline(cfg.baseline)
    if cfg.policy is not None:
        from ..anonymize.policy import load_policy
        load_policy(cfg.policy)
    writable_report_dir(cfg.report_dir)
    if cfg.queries is not None:
        from ..queries import read_queries_file
        read_queries_file(cfg.queries)  # a missing or unreadable --queries file: exit 2 before any work
    if cfg.snapshot_out is not None and cfg.snapshot_out.exists() and any(cfg.snapshot_out.iterdir()):
        raise BadInput(f"{cfg.snapshot_out} already exists and is not empty",
                       hint="choose a new directory for the pulled snapshot")
    return snapshot


def _check_revisions(cfg: RunConfig, project: AlembicProject) -> None:
    """--to names a revision of the project (plain ids only; Alembic's other forms are left to the plan)."""
    import re
    target = cfg.target
    if target is None or target in ("head", "heads", "base") or not re.fullmatch(r"\w+", target):
        return
    if not project.known(target):
        raise BadInput(f"unknown revision '{target}' (--to): {cfg.alembic_ini} has no such revision",
                       hint="use a revision id from `alembic history`, 'head' or 'heads'")


def run_rehearsal(cfg: RunConfig, *, say: Say = _quiet, progress: bool = False) -> Report:
    """Rehearse ``cfg.alembic_ini``'s migrations on a throwaway copy; returns the assessed Report."""
    from ..snapshot.format import read_snapshot
    from ..snapshot.pull import pull_snapshot
    from ..snapshot.restore import restore_snapshot
    from ..staging import assert_owned, open_staging
    from ..staging.gc import collect

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    timer = Timer()
    warnings: list[str] = []
    run_id = uuid.uuid4().hex[:10]
    preflight(cfg)

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
                # both samples before the pull: the pull's own reads must not count as production's traffic
                captured = None if cfg.queries is not None else capture_shapes(cfg.source, cfg.traffic_window_s, say)
                snapshot = pull_snapshot(cfg.source, out, policy_path=cfg.policy, secret_file=cfg.secret_file,
                                         strict=cfg.strict, progress=progress, say=say,
                                         extra_files=(lambda: captured) if captured else None)
                source_label = redact(cfg.source)
            shapes = query_shapes(cfg, snapshot, say)

        scale = None
        if cfg.scale:
            from .scale import rehearse_scale
            with timer.stage("scale"):
                scale = rehearse_scale(cfg, snapshot, say=say, run_id=run_id)

        changed = None
        if cfg.pg_settings:
            from .settings import rehearse_with_settings
            with timer.stage("settings"):
                changed = rehearse_with_settings(cfg, snapshot, shapes, say=say, run_id=run_id)

        def populate(db: StagingDatabase) -> None:
            with timer.stage("restore"):
                say(f"restoring {snapshot.total_rows:,} rows into {db.kind} staging")
                restore_snapshot(snapshot, db, progress=progress)

        with timer.stage("staging"):
            db = stack.enter_context(open_staging(
                cfg.staging, run_id=run_id, source=snapshot.source, keep=cfg.keep, image=cfg.image,
                reuse_key=snapshot.checksum if cfg.reuse else None, populate=populate,
                # data files are zstd-compressed (~4x); indexes come on top
                expected_bytes=6 * sum(t.bytes for t in snapshot.tables)))
        timer.stages["staging"] = round(timer.stages["staging"] - timer.stages.get("restore", 0.0), 4)
        warnings.extend(db.warnings)
        if db.from_template:
            say("staging cloned from a kept restore of this snapshot (--reuse)")
        assert_owned(db)

        from .checkpoint import Checkpoints
        checkpoints = Checkpoints(db, snapshot, restore_snapshot)
        stack.callback(checkpoints.close)
        report = rehearse_on(cfg, db, timer=timer, say=say, checkpoints=checkpoints, shapes=shapes,
                             snapshot=snapshot)
        if cfg.keep:
            say(f"staging kept: {db.connect_hint or redact(db.url)}")
        if cfg.target_version is not None or cfg.pg_bindir is not None:
            from .version import rehearse_on_version
            with timer.stage("target-version"):
                version = rehearse_on_version(cfg, snapshot, report, shapes, staging_version=db.server_version,
                                              say=say, run_id=run_id)
            report = dataclasses.replace(report, version_change=version)
        if changed is not None:
            from .settings import compare
            report = dataclasses.replace(report, settings_change=compare(cfg, report, *changed))
        if scale is not None:
            from .scale import with_measured
            report = dataclasses.replace(report, scale=with_measured(scale, report))
            warnings.extend(scale.warnings)

    report = dataclasses.replace(
        report, source=source_label, snapshot=str(snapshot.path), staging=db.kind,
        started_at=started_at, duration_s=round(time.perf_counter() - t0, 3), stages=dict(timer.stages),
        warnings=tuple(warnings) + report.warnings, tool_version=__version__)
    return finish(report, cfg)


def capture_shapes(source: str, window_s: float, say: Say) -> dict[str, bytes]:
    """queries.json for the snapshot: the source's shapes over ``window_s`` seconds, or why there are none."""
    from ..queries import QUERIES_FILE, write_shapes
    from ..queries.capture import capture
    return {QUERIES_FILE: write_shapes(None, capture(source, window_s, say))}


def query_shapes(cfg: RunConfig, snapshot: Snapshot, say: Say) -> QueryShapes:
    """--queries FILE, else the snapshot's queries.json, else none (and why)."""
    from ..queries import from_snapshot, read_queries_file
    if cfg.queries is not None:
        shapes = read_queries_file(cfg.queries)
        say(f"{len(shapes.shapes)} query shape(s) from {cfg.queries}"
            + (f" ({shapes.dropped} not kept: literals left in, or not DML on tables)" if shapes.dropped else ""))
        return shapes
    shapes = from_snapshot(snapshot)
    if shapes is None:
        shapes = QueryShapes(origin="none", note="the snapshot has no query shapes (queries.json) and no --queries "
                                                 "was given: old-application compatibility, plans and downtime "
                                                 "are not checked")
    elif shapes.note:
        say(shapes.note)
    return shapes


def _forecast(cfg: RunConfig, shapes: QueryShapes | None, stepper: Stepper, revisions,
              snapshot: Snapshot | None) -> QueryForecast | None:
    if shapes is None:
        return None
    if not shapes.shapes:
        return QueryForecast(origin=shapes.origin, shapes=0, window_s=shapes.window_s, dropped=shapes.dropped,
                             note=shapes.note or "no query shapes were kept", checked=False)
    from ..config import parse_duration
    from ..queries.downtime import estimate
    app_timeout = None
    if snapshot is not None:
        try:
            app_timeout = parse_duration(snapshot.source.settings.get("lock_timeout")) or None
        except BadInput:
            app_timeout = None
    note = None
    if all(s.calls_per_s is None for s in shapes.shapes):
        note = f"{shapes.origin} gives no request rates: downtime at production's traffic is not estimated"
    return QueryForecast(origin=shapes.origin, shapes=len(shapes.shapes), window_s=shapes.window_s,
                         dropped=shapes.dropped, note=note,
                         downtime=estimate(revisions, stepper.shape_baseline or shapes.shapes,
                                           lock_timeout_s=app_timeout),
                         plans=stepper.plans, baseline_runs=tuple(stepper.plans_before.values()))


def rehearse_on(cfg: RunConfig, db: StagingDatabase, *, timer: Timer | None = None, say: Say = _quiet,
                checkpoints=None, shapes: QueryShapes | None = None, snapshot: Snapshot | None = None) -> Report:
    """Rehearse the history on a staging database that already holds the starting data.

    ``checkpoints`` (``checkpoint.Checkpoints``) lets the rehearsal go on after a failed step on a
    database put back at a known revision; without it, what follows a failure is less certain."""
    timer = timer or Timer()
    ledger = Ledger()
    project = AlembicProject(cfg.alembic_ini, url=db.url, url_env=cfg.url_env, python=cfg.python,
                             flask_app=cfg.flask_app, statement_timeout_s=cfg.statement_timeout_s)
    try:
        stepper = Stepper(cfg, db, project, timer, say, ledger, checkpoints=checkpoints)
    except BaseException:
        project.close()
        raise
    if shapes is not None and shapes.shapes:
        stepper.shapes = shapes.shapes
        if snapshot is not None:
            stepper.large_tables = {t.name.lower() for t in snapshot.tables
                                    if cfg.check_thresholds.is_big(t.rows, None)}
    try:
        plan = project.plan(cfg.target)
        stepper.changed = changed_revisions(cfg, project, plan)
        say(f"{len(plan.revisions)} revision(s) to rehearse from "
            f"{', '.join(plan.start) or 'base'} to {', '.join(plan.target) or 'base'}")
        from ..checks import check_graph
        with timer.stage("checks"):
            ledger.add(check_graph(project.graph))
        stepper.check_database("before-upgrade")
        outcome = modes.stairway(stepper, plan) if cfg.mode == "stairway" else modes.release(stepper, plan)
    finally:
        project.close()  # ends the child; a statement still running is cancelled first
        stepper.close()
    return Report(
        source="", start_revision=", ".join(plan.start) or None,
        target_revision=", ".join(plan.target) or None, revisions=outcome.revisions, rollback=outcome.rollback,
        reupgrade=outcome.reupgrade, outcome="fail" if ledger.failures else "pass",
        findings=tuple(ledger.findings), failures=tuple(ledger.failures), warnings=tuple(ledger.warnings),
        app_checks=tuple(ledger.app_checks),
        scope=tuple(r.id for r in plan.revisions if r.id in stepper.changed) if stepper.changed is not None else (),
        queries=_forecast(cfg, shapes, stepper, outcome.revisions, snapshot))


def changed_revisions(cfg: RunConfig, project: AlembicProject, plan: Plan) -> set[str] | None:
    """--changed-since takes a revision id (rules apply to what comes after it) or a git ref
    (rules apply to revisions whose files changed since that ref, as in a pull request)."""
    since = cfg.changed_since
    if not since:
        return None
    if project.known(since):
        return {r.id for r in project.plan(None, start=(since,)).revisions}
    from ..vcs import changed_files
    changed = changed_files(project.ini.parent, since)
    return {r.id for r in plan.revisions if r.file and Path(r.file).resolve() in changed}


def finish(report: Report, cfg: RunConfig) -> Report:
    """Apply the baseline and assess the risk."""
    from ..checks.baseline import apply_baseline, load_baseline
    from ..risk import assess

    if cfg.baseline is not None:
        baseline = load_baseline(cfg.baseline)
        report = dataclasses.replace(
            report,
            findings=tuple(apply_baseline(list(report.findings), baseline)),
            revisions=tuple(dataclasses.replace(r, findings=tuple(apply_baseline(list(r.findings), baseline)))
                            for r in report.revisions))
    return assess(report, thresholds=cfg.risk_thresholds)


__all__ = ["finish", "preflight", "rehearse_on", "run_rehearsal"]
