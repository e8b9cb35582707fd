"""Benchmark: a stairway rehearsal of a long history against a bare stepwise up/down/up.

Generates an Alembic project of REVISIONS revisions (default 120) over TABLES tables (default 40,
each with a primary key, an index and a foreign key to the previous one, ROWS rows each), brings
a throwaway "production" cluster to the first revision and snapshots it. Then, alternating:
  * rehearse: `rehearse run --snapshot S --mode stairway` (staging, restore, every revision
    upgraded, downgraded, upgraded again, traced, fingerprinted and checked, reports);
  * bare: a throwaway cluster, the same snapshot restored, and for every revision Alembic's own
    `command.upgrade`, `command.downgrade`, `command.upgrade` through the Python API.
Issue target: rehearse at most 1.5x bare. Medians of RUNS (default 2) are printed with the ratio.

    REVISIONS=120 TABLES=40 .venv/bin/python benchmarks/bench_long_history.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rehearse.snapshot.format import read_snapshot  # noqa: E402
from rehearse.snapshot.restore import restore_snapshot  # noqa: E402
from rehearse.staging import open_staging  # noqa: E402

REVISIONS = int(os.environ.get("REVISIONS", "120"))
TABLES = int(os.environ.get("TABLES", "40"))
ROWS = int(os.environ.get("ROWS", "500"))
RUNS = int(os.environ.get("RUNS", "2"))
REHEARSE = str(Path(sys.executable).parent / "rehearse")
ENV = dict(os.environ, REHEARSE_SECRET=os.environ.get("REHEARSE_SECRET", "bench-" + uuid.uuid4().hex))

ENV_PY = '''
from sqlalchemy import engine_from_config, pool
from alembic import context

config = context.config


def run_migrations_online():
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
'''


def _revision(n: int, down: str | None, up: str, down_body: str) -> str:
    return (f'"""step {n}\n\nRevision ID: r{n:03d}\n"""\nfrom alembic import op\nimport sqlalchemy as sa\n\n'
            f'revision = "r{n:03d}"\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n'
            f'def upgrade():\n{up}\n\n\ndef downgrade():\n{down_body}\n')


def generate(folder: Path) -> Path:
    versions = folder / "versions"
    versions.mkdir(parents=True)
    (folder / "env.py").write_text(ENV_PY)
    (folder / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s\n"
                                        "sqlalchemy.url = postgresql+psycopg2://set/by_caller\n")
    base_up, base_down = [], []
    for t in range(TABLES):
        parent = f", parent_id bigint REFERENCES t{t - 1:02d} (id)" if t else ""
        base_up.append(f'    op.execute("CREATE TABLE t{t:02d} (id bigserial PRIMARY KEY, name text NOT NULL, '
                       f'amount integer NOT NULL DEFAULT 0{parent})")')
        base_up.append(f'    op.execute("CREATE INDEX ix_t{t:02d}_name ON t{t:02d} (name)")')
        fill = f", (g % {ROWS}) + 1" if t else ""
        cols = ", parent_id" if t else ""
        base_up.append(f'    op.execute("INSERT INTO t{t:02d} (name, amount{cols}) SELECT \'n\' || g, g{fill} '
                       f'FROM generate_series(1, {ROWS}) AS g")')
        if t:
            base_up.append(f'    op.execute("CREATE INDEX ix_t{t:02d}_parent ON t{t:02d} (parent_id)")')
        base_down.insert(0, f'    op.execute("DROP TABLE t{t:02d}")')
    (versions / "r000.py").write_text(_revision(0, None, "\n".join(base_up), "\n".join(base_down)))
    for n in range(1, REVISIONS):
        t = n % TABLES
        kind = (n // TABLES) % 3
        if kind == 0:
            up = f'    op.add_column("t{t:02d}", sa.Column("c{n:03d}", sa.Text()))'
            down = f'    op.drop_column("t{t:02d}", "c{n:03d}")'
        elif kind == 1:
            up = f'    op.create_index("ix_r{n:03d}", "t{t:02d}", ["amount"])'
            down = f'    op.drop_index("ix_r{n:03d}", table_name="t{t:02d}")'
        else:
            up = (f'    op.add_column("t{t:02d}", sa.Column("k{n:03d}", sa.Integer(), server_default="0", '
                  f'nullable=False))\n    op.execute("UPDATE t{t:02d} SET k{n:03d} = amount % 7")')
            down = f'    op.drop_column("t{t:02d}", "k{n:03d}")'
        (versions / f"r{n:03d}.py").write_text(_revision(n, f"r{n - 1:03d}", up, down))
    return folder / "alembic.ini"


def bare(ini: Path, snapshot: Path) -> float:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    started = time.perf_counter()
    with open_staging("local", run_id="bench-bare-" + uuid.uuid4().hex[:6]) as db:
        restore_snapshot(read_snapshot(snapshot), db)
        cfg = Config(str(ini))
        cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
        script = ScriptDirectory.from_config(cfg)
        order = list(reversed(list(script.walk_revisions())))
        for rev in order[1:]:  # the snapshot is at r000
            command.upgrade(cfg, rev.revision)
            command.downgrade(cfg, rev.down_revision)
            command.upgrade(cfg, rev.revision)
    return time.perf_counter() - started


def rehearse_stairway(ini: Path, snapshot: Path, out: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run([REHEARSE, "run", "--snapshot", str(snapshot), "--alembic-ini", str(ini), "--mode",
                           "stairway", "--report-dir", str(out), "-q", "--format", "json"],
                          capture_output=True, text=True, env=ENV)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"rehearse run failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-3:]}")
    return elapsed, json.loads((out / "report.json").read_text())


def main() -> None:
    import logging
    logging.disable(logging.INFO)
    work = Path(tempfile.mkdtemp(prefix="rh-bench-long-"))
    try:
        ini = generate(work / "project")
        snapshot = work / "snapshot"
        with open_staging("local", run_id="bench-prod-" + uuid.uuid4().hex[:6]) as prod:
            from alembic import command
            from alembic.config import Config
            cfg = Config(str(ini))
            cfg.set_main_option("sqlalchemy.url", prod.url.replace("%", "%%"))
            command.upgrade(cfg, "r000")
            subprocess.run([REHEARSE, "snapshot", prod.url, "-o", str(snapshot), "--no-strict"], check=True,
                           env=ENV, capture_output=True)
        ours, theirs = [], []
        report: dict = {}
        for i in range(RUNS):
            if i % 2 == 0:
                elapsed, report = rehearse_stairway(ini, snapshot, work / f"r{i}")
                ours.append(elapsed)
                theirs.append(bare(ini, snapshot))
            else:
                theirs.append(bare(ini, snapshot))
                elapsed, report = rehearse_stairway(ini, snapshot, work / f"r{i}")
                ours.append(elapsed)
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"long history: {REVISIONS} revisions over {TABLES} tables ({ROWS} rows each), stairway")
        print(f"  rehearse run --mode stairway: {a:.1f} s  (runs: {', '.join(f'{x:.1f}' for x in ours)})")
        print(f"  bare Alembic up/down/up:      {b:.1f} s  (runs: {', '.join(f'{x:.1f}' for x in theirs)})")
        print(f"  ratio: {a / b:.2f}x   (target <= 1.5x)")
        revs = report.get("revisions", [])
        print(f"  rehearsed {len(revs)} revisions, outcome {report.get('outcome')}, "
              f"{sum(1 for r in revs if r.get('rollback', {}) and r['rollback'].get('ok'))} reversible")
        stages = report.get("stages", {})
        print("  rehearse stages (last run): " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
