"""--scale and parallel index builds: the full size's server builds a btree on a big table with a
parallel worker, the subsets (maintenance_work_mem scaled down) build it alone. The speedup is
measured on the largest subset, on copies with the full size's memory: once alone, once with the
full size's workers. Checked on a real server: the second run really has a parallel worker and
the first has none."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import psycopg2

from rehearse.config import RunConfig
from rehearse.pipeline.scale import (parallel_builds, parallel_speedups, read_heap_bytes, read_parallel_build,
                                     upgrade_statements)
from rehearse.scale.fit import ParallelBuild
from rehearse.staging import open_staging

PROJECT = Path(__file__).resolve().parent.parent / "projects" / "parallel_index" / "alembic.ini"


class _Watch(threading.Thread):
    """Polls the server: which copies of ``prefix`` had a parallel worker, and their own settings."""

    def __init__(self, dsn: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.prefix, self.stop = dsn, prefix, threading.Event()
        self.workers: set[str] = set()
        self.settings: dict[str, tuple[str, ...]] = {}

    def run(self) -> None:
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not self.stop.is_set():
                cur.execute("SELECT datname FROM pg_stat_activity WHERE backend_type = 'parallel worker' "
                            "AND datname LIKE %s", (self.prefix + "%",))
                self.workers |= {r[0] for r in cur.fetchall()}
                cur.execute("SELECT d.datname, s.setconfig FROM pg_database d JOIN pg_db_role_setting s "
                            "ON s.setdatabase = d.oid AND s.setrole = 0 WHERE d.datname LIKE %s", (self.prefix + "%",))
                for name, config in cur.fetchall():
                    self.settings[name] = tuple(sorted(config))
                self.stop.wait(0.005)
        conn.close()


def test_the_speedup_is_measured_alone_and_with_the_full_sizes_workers():
    with open_staging("local", run_id="scale-par-" + uuid.uuid4().hex[:8]) as db:
        setup = RunConfig.model_construct(alembic_ini=PROJECT, target="pi01")
        _, problems = upgrade_statements(setup, db, print)
        assert problems == []
        conn = psycopg2.connect(db.dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            # 60 MB of heap: the full size (twice this) builds the index with one worker
            cur.execute("INSERT INTO events SELECT g, (g::bigint * 7919) % 1000003 FROM generate_series(301, 1500000) g")
            cur.execute("VACUUM ANALYZE events")
            cur.execute(f'ALTER DATABASE "{db.database}" SET maintenance_work_mem = \'2MB\'')  # a 50% subset's
            full = read_parallel_build(cur)
        conn.close()
        assert full == ParallelBuild(max_workers=2, maintenance_work_mem_kb=65536, min_scan_kb=8192)

        heap = read_heap_bytes(db)
        assert 50 << 20 < heap["public.events"] < 80 << 20
        cfg = RunConfig.model_construct(alembic_ini=PROJECT)
        statements, problems = upgrade_statements(cfg, db, print)  # the subset's own run: pi02 only
        assert problems == [] and list(statements) == ["pi02"]
        # the subset has 1.5M of the full size's 3M rows
        builds = parallel_builds(statements, full, {"public.events": 1_500_000}, {"public.events": 3_000_000}, heap)
        [(key, workers)] = builds.items()
        assert key[0] == "pi02" and "CREATE INDEX ix_events_at" in key[2] and workers == 1
        # 100,000 rows at the full size: 4 MB of heap, under min_parallel_table_scan_size (the
        # table's total size, with its indexes, would be 8.8 MB)
        assert parallel_builds(statements, full, {"public.events": 1_500_000}, {"public.events": 100_000}, heap) == {}

        # the subset's run left the index behind: drop it, the copies start from pi01
        conn = psycopg2.connect(db.dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("DROP INDEX ix_events_at")
            cur.execute("UPDATE alembic_version SET version_num = 'pi01'")
        conn.close()

        watch = _Watch(db.dsn.replace(f"dbname={db.database}", "dbname=postgres"), db.database[:50] + "_")
        watch.start()
        try:
            speedups, note = parallel_speedups(cfg, db, print, statements, set(builds), 0.5, full, 2)
        finally:
            watch.stop.set()
            watch.join()
        assert note is None and set(speedups) == {key} and speedups[key] > 0
        alone = {n for n in watch.settings if "_ser" in n}
        together = {n for n in watch.settings if "_par" in n}
        assert len(alone) == 2 and len(together) == 2
        for name in alone:  # the full size's memory, no workers
            assert watch.settings[name] == ("maintenance_work_mem=65536kB", "max_parallel_maintenance_workers=0")
        for name in together:  # the full size's memory, and its tables' worker count on half the pages
            assert watch.settings[name] == ("maintenance_work_mem=65536kB", "min_parallel_table_scan_size=4096kB")
        assert watch.workers and watch.workers <= together  # a parallel worker built it, only there

        admin = psycopg2.connect(db.dsn.replace(f"dbname={db.database}", "dbname=postgres"))
        with admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", (db.database[:50] + "\\_%",))
            assert cur.fetchone()[0] == 0  # every copy dropped
        admin.close()
