"""Benchmark of staging: time to a ready database, local cluster vs container, restore vs reuse.

1. Time from ``open_staging(...)`` to the yielded database, for ``local`` and ``docker``
   (median of RUNS, after one warm-up that fills the initdb cache). Targets: local <= 1.5 s
   and <= 0.6 x the container.
2. Time to a ready *populated* local database: restoring (a populate that COPYs SIZE rows
   into two tables, then adds keys, an index and ANALYZE) vs reusing the template a previous
   run kept (``reuse_key``). Target: reuse <= 0.2 x restore.

    SIZE=200000 RUNS=3 .venv/bin/python benchmarks/bench_staging.py     (SIZE defaults to 200_000)

Uses its own cache directory (REHEARSE_CACHE_DIR) so it neither reads nor leaves templates.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIZE = int(os.environ.get("SIZE", "200000"))
RUNS = int(os.environ.get("RUNS", "3"))


def populate(db) -> None:
    """A stand-in for the snapshot restore: tables, COPY, then keys and indexes, then ANALYZE."""
    conn = psycopg2.connect(db.dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE customers (id bigint, email text, name text, created_at timestamptz)")
        cur.execute("CREATE TABLE orders (id bigint, customer_id bigint, amount integer, note text)")
        buf = io.StringIO()
        for i in range(1, SIZE + 1):
            buf.write(f"{i}\tuser{i}@example.org\tName {i:x}\t2024-01-01 00:00:00+00\n")
        buf.seek(0)
        cur.copy_expert("COPY customers FROM STDIN", buf)
        buf = io.StringIO()
        for i in range(1, 2 * SIZE + 1):
            buf.write(f"{i}\t{1 + i % SIZE}\t{i % 997}\torder note {i}\n")
        buf.seek(0)
        cur.copy_expert("COPY orders FROM STDIN", buf)
        cur.execute("ALTER TABLE customers ADD PRIMARY KEY (id)")
        cur.execute("ALTER TABLE orders ADD PRIMARY KEY (id)")
        cur.execute("ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id)")
        cur.execute("CREATE INDEX ON customers (email)")
        cur.execute("ANALYZE")
    conn.close()


def time_to_ready(spec: str, **kwargs) -> tuple[float, float]:
    """Seconds to the yielded database, and to the end of teardown."""
    from rehearse.staging import open_staging

    t0 = time.perf_counter()
    with open_staging(spec, run_id="bench" + uuid.uuid4().hex[:8], **kwargs) as db:
        ready = time.perf_counter() - t0
        conn = psycopg2.connect(db.dsn)
        conn.close()
    return ready, time.perf_counter() - t0


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    cache = Path(tempfile.mkdtemp(prefix="rehearse-bench-cache-"))
    os.environ["REHEARSE_CACHE_DIR"] = str(cache)
    from rehearse import errors

    keys: list[str] = []
    try:
        time_to_ready("local")  # warm-up: fills the initdb cache
        local = [time_to_ready("local") for _ in range(RUNS)]
        print(f"local cluster:   ready {median([r for r, _ in local]):.3f} s, "
              f"with teardown {median([t for _, t in local]):.3f} s (median of {RUNS}, on /tmp)")
        small = [time_to_ready("local", expected_bytes=SIZE * 200) for _ in range(RUNS)]
        print(f"local in memory: ready {median([r for r, _ in small]):.3f} s, "
              f"with teardown {median([t for _, t in small]):.3f} s (expected_bytes={SIZE * 200:,}: "
              f"/dev/shm when there is room)")
        try:
            time_to_ready("docker")
            docker = [time_to_ready("docker") for _ in range(RUNS)]
            print(f"container:       ready {median([r for r, _ in docker]):.3f} s, "
                  f"with teardown {median([t for _, t in docker]):.3f} s (median of {RUNS})")
            ratio = median([r for r, _ in local]) / median([r for r, _ in docker])
            print(f"local / container ready time: {ratio:.2f} (target <= 0.6; local target <= 1.5 s)")
        except errors.DockerUnavailable as exc:
            print(f"container:       skipped ({exc.one_line()})")

        print(f"populated (SIZE={SIZE}: {SIZE} customers + {2 * SIZE} orders):")
        for spec in ("local", "docker"):
            try:
                restore = [time_to_ready(spec, populate=populate)[0] for _ in range(RUNS)]
                if spec == "local":
                    mem = [time_to_ready(spec, populate=populate, expected_bytes=SIZE * 200)[0]
                           for _ in range(RUNS)]
                    print(f"  local  restore in memory {median(mem):.3f} s")
            except errors.DockerUnavailable:
                continue
            key = uuid.uuid4().hex
            keys.append(key)
            first = time_to_ready(spec, populate=populate, reuse_key=key)[0]
            reuse = [time_to_ready(spec, populate=populate, reuse_key=key)[0] for _ in range(RUNS)]
            r, u = median(restore), median(reuse)
            print(f"  {spec:6} restore {r:.3f} s; first --reuse run (restore + keep template) {first:.3f} s; "
                  f"reuse {u:.3f} s; reuse / restore {u / r:.2f} (target <= 0.2)")
    finally:
        _drop_docker_templates(keys)
        shutil.rmtree(cache, ignore_errors=True)


def _drop_docker_templates(keys: list[str]) -> None:
    """Remove the template images this benchmark committed (they are not anyone's cache)."""
    from rehearse.staging.container import TEMPLATE_REPO, client

    try:
        cli = client()
    except Exception:
        return
    for img in cli.images.list(name=TEMPLATE_REPO):
        if any(key[:24] in tag for key in keys for tag in img.tags):
            for tag in img.tags:
                cli.images.remove(tag, force=True)
    cli.close()


if __name__ == "__main__":
    main()
