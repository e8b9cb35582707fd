"""``--scale``: the same history rehearsed (upgrade only, traced) on growing subsets of the
snapshot, and each statement's cost predicted at the full size (``rehearse.scale``).

The subsets are cut from the snapshot itself: it is restored once into a throwaway "sampler"
database, and each subset is pulled from that database with the pull's own foreign-key closure
(``snapshot.subset``; the rows kept are chosen by ``scale.sample``), then restored into a fresh
staging database and upgraded revision by revision. The sampler is only read. The full size is
the source's (``source_sizes`` in the manifest, pg_class estimates) when the snapshot is itself a
subset, else the snapshot's own rows, which the main rehearsal measures too: then every
prediction stands next to the measured value.

Each subset's server gets its memory scaled with it (``subset_memory``): ``shared_buffers`` and
``maintenance_work_mem`` times the fraction. With the full size's memory, a 10% subset of a
table that does not fit in shared buffers fits (its scans hit the buffer cache instead of going
through a small ring), and an index build that sorts on disk at the full size sorts in memory:
the subsets then measure a cheaper regime than the full size, and the line through them
predicts too little (measured at 1M customers: the 10% subset cost 1.2-2x less per row than the
30% and full-size ones, for every statement over 100 ms; docs/risk.md). ``work_mem`` is not scaled: the hash tables of a foreign-key
check are built over the referenced table, which is often copied whole.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import yaml

from ..config import RunConfig
from ..model import Report, ScaleResult, Snapshot, StagingDatabase, StatementTrace

if TYPE_CHECKING:
    from ..scale.fit import ParallelBuild

Say = Callable[[str], None]


def full_size(snapshot: Snapshot) -> tuple[str, dict[str, int]]:
    """("source" | "snapshot", rows per table) of the size to predict for."""
    from ..snapshot.format import manifest_data
    manifest = manifest_data(snapshot.path)
    own = {t.qualified: t.rows for t in snapshot.tables}
    sizes = manifest.get("source_sizes") or {}
    if manifest.get("subset") and sizes:
        return "source", {q: max(int(v.get("rows") or 0), own.get(q, 0)) for q, v in sizes.items()}
    return "snapshot", own


# floors: the server's own minimums (and room for the catalogs a migration reads)
_MEMORY_FLOOR_KB = {"shared_buffers": 2048, "maintenance_work_mem": 1024}


def subset_memory(full_kb: dict[str, int], fraction: float) -> dict[str, str]:
    """The memory settings of a subset's server: the full size's, times the fraction."""
    return {name: f"{max(_MEMORY_FLOOR_KB.get(name, 64), int(kb * fraction))}kB" for name, kb in full_kb.items()}


def _settings_kb(cur, names: tuple[str, ...]) -> dict[str, int]:
    """Settings of the server ``cur`` is on, memory sizes in kB (others as they are)."""
    cur.execute("SELECT name, setting::bigint * CASE unit WHEN '8kB' THEN 8 WHEN 'kB' THEN 1 WHEN 'MB' THEN 1024 "
                "ELSE 1 END FROM pg_settings WHERE name = ANY(%s)", (list(names),))
    return {name: int(kb) for name, kb in cur.fetchall()}


def read_memory(cur) -> dict[str, int]:
    """shared_buffers and maintenance_work_mem of the server ``cur`` is on, in kB."""
    return _settings_kb(cur, ("shared_buffers", "maintenance_work_mem"))


def read_parallel_build(cur) -> ParallelBuild:
    """The settings of the server ``cur`` is on that decide a parallel index build's workers."""
    from ..scale.fit import ParallelBuild

    got = _settings_kb(cur, ("max_parallel_maintenance_workers", "maintenance_work_mem", "min_parallel_table_scan_size"))
    return ParallelBuild(max_workers=got["max_parallel_maintenance_workers"],
                         maintenance_work_mem_kb=got["maintenance_work_mem"], min_scan_kb=got["min_parallel_table_scan_size"])


def read_heap_bytes(db: StagingDatabase) -> dict[str, int]:
    """Each table's heap size on ``db`` (what PostgreSQL sizes a parallel index build by)."""
    import psycopg2

    conn = psycopg2.connect(db.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT n.nspname || '.' || c.relname, pg_relation_size(c.oid) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') "
                        "AND n.nspname NOT IN ('pg_catalog', 'information_schema')")
            return {name: int(size) for name, size in cur.fetchall()}
    finally:
        conn.close()


def parallel_builds(statements: dict[str, tuple[StatementTrace, ...]], parallel: ParallelBuild | None,
                    rows: dict[str, int], target_rows: dict[str, int], heap: dict[str, int]
                    ) -> dict[tuple[str, int, str], int]:
    """The index builds of a subset's upgrade that the full size's server runs with parallel
    workers, and how many: from each table's heap on the subset (``heap``, read before the
    upgrade), times the full size's rows over the subset's. A table the upgrade creates is sized
    by its lock's total size (heap and indexes: an upper bound)."""
    from ..scale.fit import cost_relation, full_bytes, operation_class

    if parallel is None:
        return {}
    out = {}
    for rev, traces in statements.items():
        for i, t in enumerate(traces):
            relation = cost_relation(t) if t.ok and operation_class(t) == "index build" else None
            if not relation or not rows.get(relation):
                continue
            full = target_rows.get(relation, 0)
            size = heap[relation] * full / rows[relation] if relation in heap else full_bytes(t, relation, full, rows[relation])
            workers = parallel.workers(size)
            if workers:
                out[(rev, i, t.sql)] = workers
    return out


def upgrade_statements(cfg: RunConfig, db: StagingDatabase, say: Say, until: str | None = None
                       ) -> tuple[dict[str, tuple[StatementTrace, ...]], list[str]]:
    """Upgrade the planned revisions one at a time, traced; stops at the first failure (and after
    revision ``until``, when given)."""
    from ..checks.probes import preflight
    from ..migrate.recreated import with_recreated_rewrites
    from ..migrate.runner import AlembicProject

    out: dict[str, tuple[StatementTrace, ...]] = {}
    problems: list[str] = []
    project = AlembicProject(cfg.alembic_ini, url=db.url, url_env=cfg.url_env, python=cfg.python,
                             flask_app=cfg.flask_app, statement_timeout_s=cfg.statement_timeout_s)
    try:
        for rev in project.plan(cfg.target).revisions:
            # with the main rehearsal's probes: they read the table just before a constraint or cast
            # (and so warm it), and the full size measured there must be compared like for like
            result, _ = project.step(rev.id, upgrade=True, preflight=preflight)
            out[rev.id] = with_recreated_rewrites(result).statements
            if not result.ok:
                problems.append(f"upgrade of {rev.id} failed on a subset: {result.error}")
                break
            if rev.id == until:
                break
    finally:
        project.close()
    return out, problems


def repeated_upgrades(cfg: RunConfig, db: StagingDatabase, say: Say, repeat: int
                      ) -> tuple[dict[str, tuple[StatementTrace, ...]], list[str], str | None]:
    """The upgrade run ``repeat`` times, each on a fresh copy of ``db`` (``CREATE DATABASE ...
    TEMPLATE``: the same server, memory and data), and per statement its fastest run kept.

    One timed run of a statement moves by 20-30% with whatever else the machine does; a busy
    moment only ever slows a run down, so the fastest of a few is the closest to the statement's
    own cost (as for query latency, ``queries.plans``). Returns (statements, problems, a note
    when copies could not be made and the upgrade ran once, on ``db`` itself, or fewer times)."""
    if repeat <= 1:
        return (*upgrade_statements(cfg, db, say), None)
    runs, problems, failed = upgrades_on_copies(cfg, db, say, repeat, "rep")
    if not runs:
        return (*upgrade_statements(cfg, db, say),
                f"the upgrade ran once (copies of the subset could not be made: {failed})")
    note = None
    if failed is not None:
        note = f"the upgrade ran {len(runs)} of {repeat} times (a copy of the subset could not be made: {failed})"
    return fastest(runs), problems, note


def upgrades_on_copies(cfg: RunConfig, db: StagingDatabase, say: Say, repeat: int, tag: str, *,
                       settings: dict[str, str] | None = None, until: str | None = None
                       ) -> tuple[list[dict[str, tuple[StatementTrace, ...]]], list[str], str | None]:
    """Up to ``repeat`` upgrades, each on its own copy of ``db`` (named ``<db>_<tag><i>``, dropped
    afterwards), with ``settings`` on top of the database's own: (the runs, the problems of the
    last one, why a copy could not be made or None). A failing upgrade fails the same way on
    every copy: the runs stop at the first."""
    import dataclasses

    import psycopg2

    from ..catalog import quote_ident
    from ..urls import libpq_dsn, with_database

    admin = psycopg2.connect(libpq_dsn(with_database(db.url, "postgres")))
    admin.autocommit = True
    runs: list[dict[str, tuple[StatementTrace, ...]]] = []
    problems: list[str] = []
    failed = None
    try:
        # a file copy, not WAL_LOG's block-by-block copy through shared buffers (15+): each copy then
        # starts with the same buffer cache as the others
        strategy = " STRATEGY FILE_COPY" if db.server_version_num >= 150000 else ""
        for i in range(repeat):
            name = f"{db.database[:50]}_{tag}{i}"
            created = False
            try:
                with admin.cursor() as cur:
                    cur.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE {quote_ident(db.database)}{strategy}")
                    created = True
                    _same_database_settings(cur, db.database, name)
                    for key, value in (settings or {}).items():
                        cur.execute(f"ALTER DATABASE {quote_ident(name)} SET {quote_ident(key)} = %s", (value,))
            except psycopg2.Error as exc:
                failed = str(exc).strip().splitlines()[0][:120]
                if created:  # only ever drop what this run made
                    with admin.cursor() as cur:
                        cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
                break
            try:
                url = with_database(db.url, name)
                copy = dataclasses.replace(db, database=name, url=url, dsn=libpq_dsn(url))
                statements, problems = upgrade_statements(cfg, copy, say, until=until)
                runs.append(statements)
            finally:
                with admin.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
            if problems:
                break
    finally:
        admin.close()
    return runs, problems, failed


def parallel_speedups(cfg: RunConfig, db: StagingDatabase, say: Say, statements: dict[str, tuple[StatementTrace, ...]],
                      candidates: set[tuple[str, int, str]], fraction: float, full: ParallelBuild,
                      repeat: int) -> tuple[dict[tuple[str, int, str], float], str | None]:
    """How much faster the full size's parallel workers build each of ``candidates`` (index builds
    the full size runs with workers), measured on the subset ``db`` (the largest): the upgrade, up
    to the last of them, on copies with the full size's maintenance_work_mem, once with
    ``max_parallel_maintenance_workers = 0`` and once with the full size's own settings and
    ``min_parallel_table_scan_size`` scaled by ``fraction`` (so the server picks the full size's
    worker count for the subset's smaller tables); each the fastest of ``repeat``, run alternately. Returns the
    ratios (alone / with workers) and a note when they could not be measured.

    Both runs sort with the same memory, so the ratio is the workers' gain alone; the subsets'
    line (scaled memory, built alone) gives the cost of the build itself at the full size."""
    order = [(rev, i, t.sql) for rev, ts in statements.items() for i, t in enumerate(ts)]
    last = max((n for n, key in enumerate(order) if key in candidates), default=None)
    if last is None:
        return {}, None
    until = order[last][0]
    mwm = f"{full.maintenance_work_mem_kb}kB"
    scan_kb = max(int(full.min_scan_kb * fraction), 8)
    alone: list[dict[str, tuple[StatementTrace, ...]]] = []
    together: list[dict[str, tuple[StatementTrace, ...]]] = []
    sides = ((alone, "ser", {"maintenance_work_mem": mwm, "max_parallel_maintenance_workers": "0"}),
             (together, "par", {"maintenance_work_mem": mwm, "min_parallel_table_scan_size": f"{scan_kb}kB"}))
    # alternately, so that a slow moment of the machine falls on both sides alike
    for i in range(repeat):
        for runs, tag, settings in sides:
            got, _, failed = upgrades_on_copies(cfg, db, say, 1, f"{tag}{i}", settings=settings, until=until)
            if not got:
                return {}, f"the parallel index builds' speedup was not measured (a copy could not be made: {failed})"
            runs += got
    a, b = fastest(alone), fastest(together)
    out = {}
    for rev, ts in a.items():
        for i, t in enumerate(ts):
            key = (rev, i, t.sql)
            other = b.get(rev, ())[i:i + 1]
            if key in candidates and t.ok and other and other[0].ok and other[0].sql == t.sql and other[0].duration_s > 0:
                out[key] = t.duration_s / other[0].duration_s
    return out, None


def _same_database_settings(cur, template: str, copy: str) -> None:
    """What a template copy does not take along: the database's own settings (the subset's scaled
    maintenance_work_mem) and its comment (the ownership marker ``rehearse gc`` goes by)."""
    from ..catalog import quote_ident

    cur.execute("SELECT s.setconfig, shobj_description(d.oid, 'pg_database') FROM pg_database d "
                "LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0 WHERE d.datname = %s",
                (template,))
    config, comment = cur.fetchone()
    for item in config or ():
        key, _, value = item.partition("=")
        if "," in value:  # a list setting (search_path): its items as the server printed them
            cur.execute(f"ALTER DATABASE {quote_ident(copy)} SET {quote_ident(key)} = {value}")
        else:
            cur.execute(f"ALTER DATABASE {quote_ident(copy)} SET {quote_ident(key)} = %s", (value,))
    if comment:
        cur.execute(f"COMMENT ON DATABASE {quote_ident(copy)} IS %s", (comment,))


def fastest(runs: list[dict[str, tuple[StatementTrace, ...]]]) -> dict[str, tuple[StatementTrace, ...]]:
    """Per statement (revision, position, text), the trace of its fastest successful run."""
    first, *others = runs
    out: dict[str, tuple[StatementTrace, ...]] = {}
    for rev, traces in first.items():
        chosen = []
        for i, trace in enumerate(traces):
            same = [t for run in others for t in run.get(rev, ())[i:i + 1] if t.sql == trace.sql and t.ok]
            chosen.append(min([trace, *same], key=lambda t: t.duration_s) if trace.ok else trace)
        out[rev] = tuple(chosen)
    return out


def rehearse_scale(cfg: RunConfig, snapshot: Snapshot, *, say: Say, run_id: str) -> ScaleResult:
    """Rehearse the upgrade on each ``cfg.scale`` subset; the predictions (measured values come later)."""
    from ..catalog import quote_ident, read_tables
    from ..scale import predict, subset_for_fraction
    from ..snapshot.pull import pull_snapshot
    from ..snapshot.restore import restore_snapshot
    from ..staging import open_staging
    import psycopg2

    started = time.perf_counter()
    target, target_rows = full_size(snapshot)
    warnings: list[str] = []
    runs = []
    parallel = None
    speedups: dict[tuple[str, int, str], float] = {}
    workers: dict[tuple[str, int, str], int] = {}  # the full size's parallel index builds
    rows_by_table: dict[str, dict[str, int]] = {q: {"full": n} for q, n in target_rows.items()}
    work = Path(tempfile.mkdtemp(prefix="rehearse-scale-"))
    try:
        say(f"--scale: restoring the snapshot once to cut {len(cfg.scale)} subsets from it")
        with open_staging(cfg.staging, run_id=f"{run_id}-sampler", source=snapshot.source, image=cfg.image,
                          populate=lambda db: restore_snapshot(snapshot, db),
                          expected_bytes=6 * sum(t.bytes for t in snapshot.tables)) as sampler:
            conn = psycopg2.connect(sampler.dsn)
            conn.autocommit = True
            try:
                with conn.cursor() as cur:
                    tables = read_tables(cur)
                    memory = read_memory(cur)  # the sampler is the same kind of server as the full size's
                    parallel = read_parallel_build(cur)
                    # the subsets' nested semi-joins must run as hashed subplans; with the default
                    # 4 MB a million keys do not fit and every row re-scans the child table
                    cur.execute(f"ALTER DATABASE {quote_ident(sampler.database)} SET work_mem = '512MB'")
            finally:
                conn.close()
            own = {t.qualified: t.rows for t in snapshot.tables}
            for fraction in cfg.scale:
                label = f"{fraction * 100:g}%"
                spec_file = work / f"subset-{label}.yaml"
                spec_file.write_text(yaml.safe_dump(subset_for_fraction(tables, fraction, own)))
                sub = pull_snapshot(sampler.url, work / f"snap-{label}", subset=spec_file, anonymize=False,
                                    say=None)
                rows = {t.qualified: t.rows for t in sub.tables}
                for q, n in rows.items():
                    rows_by_table.setdefault(q, {})[label] = n
                scaled = subset_memory(memory, fraction)
                say(f"--scale {label}: {sub.total_rows:,} rows; upgrading with "
                    + ", ".join(f"{k}={v}" for k, v in scaled.items()))
                # the place (memory or disk) is the full size's, so both measure the same storage
                with open_staging(cfg.staging, run_id=f"{run_id}-scale{len(runs)}", source=subset_source(sub, snapshot),
                                  image=cfg.image, populate=lambda db, s=sub: restore_snapshot(s, db),
                                  expected_bytes=6 * sum(t.bytes for t in snapshot.tables),
                                  server_settings={"shared_buffers": scaled["shared_buffers"]}) as db:
                    warnings.extend(_scale_memory(db, scaled, label))
                    largest = fraction == cfg.scale[-1]
                    heap = read_heap_bytes(db) if largest else {}
                    statements, problems, note = repeated_upgrades(cfg, db, say, cfg.scale_repeat)
                    if note:
                        warnings.append(f"--scale {label}: {note}")
                    if largest and not problems:
                        workers = parallel_builds(statements, parallel, rows, target_rows, heap)
                    if largest and workers and cfg.scale_repeat > 1 and note is None:  # the restore is still untouched
                        say(f"--scale {label}: measuring {len(workers)} index build(s) alone and with the full "
                            f"size's parallel workers")
                        speedups, why = parallel_speedups(cfg, db, say, statements, set(workers), fraction,
                                                          parallel, cfg.scale_repeat)
                        if why:
                            warnings.append(f"--scale {label}: {why}")
                warnings.extend(f"--scale {label}: {p}" for p in problems)
                runs.append((fraction, rows, statements))
                shutil.rmtree(work / f"snap-{label}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ScaleResult(fractions=tuple(cfg.scale), target=target, predictions=tuple(predict(runs, target_rows, parallel_workers=workers, speedups=speedups)),
                       rows=rows_by_table, duration_s=round(time.perf_counter() - started, 3),
                       warnings=tuple(warnings))


def subset_source(subset: Snapshot, snapshot: Snapshot):
    """What a subset's staging copies from "production": the snapshot's own source settings. The
    subset was pulled from the sampler, whose settings are rehearse's (a 512 MB work_mem for the
    subset queries), not production's: with them every subset would hash and sort with 128x the
    full size's work_mem."""
    import dataclasses

    return dataclasses.replace(subset.source, settings=dict(snapshot.source.settings))


def _scale_memory(db: StagingDatabase, scaled: dict[str, str], label: str) -> list[str]:
    """maintenance_work_mem for the subset's database; a warning where shared_buffers could not be scaled."""
    import psycopg2
    from ..catalog import quote_ident

    conn = psycopg2.connect(db.dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"ALTER DATABASE {quote_ident(db.database)} SET maintenance_work_mem = %s",
                        (scaled["maintenance_work_mem"],))
            have = read_memory(cur)["shared_buffers"]
    finally:
        conn.close()
    want = int(scaled["shared_buffers"].removesuffix("kB"))
    if abs(have - want) > max(want // 10, 128):
        return [f"--scale {label}: shared_buffers stays {have // 1024} MB on {db.kind} staging (not scaled to "
                f"{want // 1024} MB): tables that do not fit at the full size may fit on this subset, and its "
                f"statements then look cheaper than they will be"]
    return []


def with_measured(scale: ScaleResult, report: Report) -> ScaleResult:
    """Put the full size's measured durations (the main rehearsal's upgrades) next to the predictions."""
    import dataclasses

    if scale.target != "snapshot":
        return scale
    measured = {r.id: r.upgrade.statements for r in report.revisions if not r.upgrade.skipped}
    by_key = {(rev, i, t.sql): t for rev, ts in measured.items() for i, t in enumerate(ts)}
    from ..scale.fit import lock_held
    out = []
    for p in scale.predictions:
        full = by_key.get((p.revision, p.index, p.sql))
        if full is not None and full.ok:
            p = dataclasses.replace(p, measured_s=round(full.duration_s, 6), measured_lock_s=round(lock_held(full), 6))
        out.append(p)
    return dataclasses.replace(scale, predictions=tuple(out))
