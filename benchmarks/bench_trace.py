"""Benchmark: what tracing and checks add to applying the demo history (issue target <= 1.3x).

Seeds the demo shop at its first revision (SIZE customers, 3 x SIZE orders) once, keeps it as a
template database on the 127.0.0.1:5432 server, and for each run clones it twice:
  baseline  `alembic upgrade head` through Alembic's Python API (one command, no tracing);
  rehearse  the same revisions one step at a time through rehearse's runner with statement
            tracing (locks, rewrites, catalog diffs), pre-statement probes (violating rows)
            and every rule of the catalogue.
Runs alternate so background load hits both alike; medians and the ratio are printed.

    SIZE=100000 RUNS=3 .venv/bin/python benchmarks/bench_trace.py
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "migrations"))

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

from rehearse.checks import check_step  # noqa: E402
from rehearse.checks.probes import preflight  # noqa: E402
from rehearse.migrate.runner import AlembicProject  # noqa: E402
from seed import seed  # noqa: E402

SERVER = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SIZE = int(os.environ.get("SIZE", "100000"))
RUNS = int(os.environ.get("RUNS", "3"))
INI = REPO / "migrations" / "alembic.ini"


def admin(sql: str) -> None:
    conn = psycopg2.connect(SERVER)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def url(db: str) -> str:
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"


def baseline(db: str) -> float:
    cfg = Config(str(INI))
    cfg.set_main_option("sqlalchemy.url", url(db))
    started = time.perf_counter()
    command.upgrade(cfg, "head")
    return time.perf_counter() - started


def rehearsed(db: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    project = AlembicProject(INI, url=url(db))
    statements = findings = 0
    for rev in project.plan(None).revisions:
        result, _ = project.step(rev.id, upgrade=True, preflight=preflight)
        assert result.ok, result.error
        statements += len(result.statements)
        findings += len(check_step(rev.id, result))
    return time.perf_counter() - started, statements, findings


def main() -> None:
    logging.disable(logging.INFO)
    template = f"rh_bench_trace_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{template}"')
    clones: list[str] = []
    try:
        t = time.perf_counter()
        seed(url(template), SIZE, 3 * SIZE)
        print(f"seeded {SIZE:,} customers / {3 * SIZE:,} orders in {time.perf_counter() - t:.1f} s")
        base, traced = [], []
        for i in range(RUNS):
            for kind in (("base", "traced") if i % 2 == 0 else ("traced", "base")):
                clone = f"{template}_{kind}_{i}"
                admin(f'CREATE DATABASE "{clone}" TEMPLATE "{template}"')
                clones.append(clone)
                if kind == "base":
                    base.append(baseline(clone))
                else:
                    seconds, n_statements, n_findings = rehearsed(clone)
                    traced.append(seconds)
                admin(f'DROP DATABASE "{clone}" WITH (FORCE)')
                clones.remove(clone)
        b, r = statistics.median(base), statistics.median(traced)
        print(f"bare alembic upgrade head: median {b:.2f} s  {['%.2f' % x for x in base]}")
        print(f"rehearse traced + checked: median {r:.2f} s  {['%.2f' % x for x in traced]} "
              f"({n_statements} statements, {n_findings} findings)")
        print(f"RATIO tracing+checks / bare upgrade = {r / b:.2f}x  (target <= 1.30x) "
              f"{'OK' if r / b <= 1.3 else 'MISSED'}")
    finally:
        for clone in clones:
            admin(f'DROP DATABASE IF EXISTS "{clone}" WITH (FORCE)')
        admin(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


if __name__ == "__main__":
    main()
