"""``--setting name=value`` / ``--settings FILE``: the upgrade rehearsed again on a fresh restore
with the configuration change applied, statement by statement against the main rehearsal.

Settings a session may change (pg_settings context user/superuser) are set with ``ALTER DATABASE
... SET`` on the staging database, so every new session of the migration sees them; reloadable
ones (sighup) with ``ALTER SYSTEM`` and ``pg_reload_conf()``, only on a throwaway cluster
(``--staging local`` or docker), never on a shared server.

With query shapes (``--queries FILE`` or the snapshot's), the busiest ``--plan-top`` ones are planned
and timed on that same upgraded copy twice: first with the settings taken off again (``RESET``),
then with them put back, using the same sampled parameter values (``queries.plans.measure``). One
database, one schema, the same statistics: only the settings differ between the two measurements.
They are compared with the rules of ``queries.downtime.compare``: a plan that loses an index or
scans a large table sequentially, and a latency beyond the noise margin only when the planner
corroborates it (the plan's shape changed or its estimated cost rose by more than 20%).
"""

from __future__ import annotations

from typing import Callable, Iterator

from ..catalog import quote_ident
from ..config import RunConfig
from ..errors import BadInput
from ..model import PlanComparison, QueryShapes, Report, SettingsComparison, SettingsStatement, Snapshot, StagingDatabase

Say = Callable[[str], None]
NOISE = 0.25
NOISE_FLOOR_S = 0.05


def apply_settings(db: StagingDatabase, settings: tuple[tuple[str, str], ...], *, reset: bool = False) -> None:
    """Set ``settings`` for every new session of the staging database (``reset``: take them off again)."""
    import psycopg2

    from ..pgsettings import PER_DATABASE
    conn = psycopg2.connect(db.dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            reload = False
            for name, value in settings:
                cur.execute("SELECT context FROM pg_settings WHERE name = %s", (name,))
                row = cur.fetchone()
                if row is None:
                    raise BadInput(f"--setting {name}: staging's server has no such setting",
                                   hint="check the name against the staging server's version")
                try:
                    if reset:
                        if row[0] in PER_DATABASE:
                            cur.execute(f"ALTER DATABASE {quote_ident(db.database)} RESET {quote_ident(name)}")
                        else:
                            cur.execute(f"ALTER SYSTEM RESET {quote_ident(name)}")
                            reload = True
                    elif row[0] in PER_DATABASE:
                        cur.execute(f"ALTER DATABASE {quote_ident(db.database)} SET {quote_ident(name)} = %s", (value,))
                    else:
                        if db.kind == "server":
                            raise BadInput(f"--setting {name}: a reloadable setting changes the whole server, "
                                           f"and --staging is a shared server",
                                           hint="use --staging local for server-wide settings")
                        cur.execute(f"ALTER SYSTEM SET {quote_ident(name)} = %s", (value,))
                        reload = True
                except psycopg2.Error as exc:
                    raise BadInput(f"--setting {name}={value}: {str(exc).strip().splitlines()[0]}",
                                   hint="give a value the server accepts (see pg_settings)") from None
            if reload:
                cur.execute("SELECT pg_reload_conf()")
    finally:
        conn.close()


def compare_plans(cfg: RunConfig, db: StagingDatabase, shapes: QueryShapes | None,
                  large_tables: set[str]) -> tuple[PlanComparison, ...]:
    """The busiest shapes on ``db`` without the settings (``before``) and with them (``after``)."""
    from ..queries import downtime, plans

    busiest = list(shapes.shapes[: cfg.plan_top]) if shapes is not None and cfg.plan_top else []
    if not busiest:
        return ()
    apply_settings(db, cfg.pg_settings, reset=True)
    without = plans.measure(db.dsn, busiest, budget_s=cfg.plan_budget_s)
    apply_settings(db, cfg.pg_settings)
    with_them = plans.measure(db.dsn, busiest, budget_s=cfg.plan_budget_s,
                              params={fp: r.params for fp, r in without.items()})
    return downtime.compare(busiest, without, with_them, noise=cfg.check_thresholds.duration_noise,
                            large_tables=large_tables)


def rehearse_with_settings(cfg: RunConfig, snapshot: Snapshot, shapes: QueryShapes | None = None, *, say: Say,
                           run_id: str) -> tuple[dict, tuple[PlanComparison, ...], list[str]]:
    """The upgrade's statements with ``cfg.pg_settings`` applied: ({revision: statements}, plans, warnings)."""
    from ..snapshot.restore import restore_snapshot
    from ..staging import open_staging
    from .scale import upgrade_statements

    say("--setting: rehearsing the upgrade again with " + ", ".join(f"{n}={v}" for n, v in cfg.pg_settings))
    with open_staging(cfg.staging, run_id=f"{run_id}-settings", source=snapshot.source, image=cfg.image,
                      populate=lambda db: restore_snapshot(snapshot, db),
                      expected_bytes=6 * sum(t.bytes for t in snapshot.tables)) as db:
        apply_settings(db, cfg.pg_settings)
        statements, problems = upgrade_statements(cfg, db, say)
        large = {t.name.lower() for t in snapshot.tables if cfg.check_thresholds.is_big(t.rows, None)}
        plans = compare_plans(cfg, db, shapes, large)
    return statements, plans, problems


def paired_statements(report: Report, other: dict) -> Iterator[tuple[tuple, object, object]]:
    """Each upgrade statement of the main rehearsal beside the same one of a second run (``other``:
    revision -> its traced statements), keyed by (revision, position, SQL), in the main run's order
    and then the second run's; a side that did not run it gives None."""
    base = {(r.id, i, s.sql): s for r in report.revisions for i, s in enumerate(r.upgrade.statements)}
    theirs = {(rev, i, s.sql): s for rev, ts in other.items() for i, s in enumerate(ts)}
    for key in list(base) + [k for k in theirs if k not in base]:
        yield key, base.get(key), theirs.get(key)


def duration_change(before_s: float, after_s: float) -> float | None:
    """The change in seconds when it is beyond the noise margin (NOISE of the duration, at least
    NOISE_FLOOR_S), else None."""
    delta = after_s - before_s
    return delta if abs(delta) > max(NOISE * before_s, NOISE_FLOOR_S) else None


def compare(cfg: RunConfig, report: Report, changed: dict, plans: tuple[PlanComparison, ...],
            warnings: list[str]) -> SettingsComparison:
    out = []
    for key, b, c in paired_statements(report, changed):
        differs, note = False, ""
        if b is None or c is None:
            differs, note = True, "ran on one side only"
        elif b.ok != c.ok:
            differs = True
            note = f"fails with the settings: {c.error}" if not c.ok else f"fails without them: {b.error}"
        elif (delta := duration_change(b.duration_s, c.duration_s)) is not None:
            differs, note = True, f"{'slower' if delta > 0 else 'faster'} by {abs(delta):.3f} s"
        out.append(SettingsStatement(
            revision=key[0], index=key[1], sql=key[2], baseline_s=round(b.duration_s, 6) if b else None,
            changed_s=round(c.duration_s, 6) if c else None, baseline_ok=b.ok if b else False,
            changed_ok=c.ok if c else False, differs=differs, note=note))
    return SettingsComparison(settings=dict(cfg.pg_settings), statements=tuple(out), noise=NOISE,
                              plans=tuple(plans), warnings=tuple(warnings))
