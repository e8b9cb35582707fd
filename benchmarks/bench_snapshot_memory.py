"""Benchmark: peak memory of rehearse snapshot + restore at SIZE and at 4x SIZE rows.

    SIZE=1000000 .venv/bin/python benchmarks/bench_snapshot_memory.py

Builds the same source as bench_snapshot.py (SIZE customers with 4 personal columns and a jsonb
profile, 3*SIZE orders) at SIZE and at 4*SIZE, and runs the anonymizing pull (2 workers, leak
scan on) and the restore in a fresh process for each, reading that process's peak RSS and its
largest child's (the pull workers). Target: under 300 MB at both sizes, and flat: the peak at
4x the rows within 1.25x of the peak at 1x. Prints the ratio. Everything it creates is dropped.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_snapshot as bs  # noqa: E402 - the source builder and the measured phase are shared

SIZE = int(os.environ.get("SIZE", "1000000"))
FACTOR = int(os.environ.get("MEM_FACTOR", "4"))


def measure(n: int) -> dict:
    tag = uuid.uuid4().hex[:8]
    src, target = f"rh_bench_mem_src_{tag}", f"rh_bench_mem_dst_{tag}"
    work = Path(tempfile.mkdtemp(prefix=f"rh_bench_mem_{tag}_"))
    try:
        t = time.perf_counter()
        bs.build_source(src, n, orders_factor=3)
        built = time.perf_counter() - t
        bs.create_db(target)
        res = bs.run_phase("--phase-rehearse", src, target, str(work))
        peak = max(res["peak_rss_mb_self"], res["peak_rss_mb_children"])
        print(f"  {n:,} customers + {3 * n:,} orders (built in {built:.0f} s): pull {res['pull_s']:.1f} s, "
              f"restore {res['restore_s']:.1f} s, peak RSS {res['peak_rss_mb_self']} MB (process) / "
              f"{res['peak_rss_mb_children']} MB (largest child)", flush=True)
        return {"rows": res["rows"], "peak_mb": peak, "pull_s": res["pull_s"], "restore_s": res["restore_s"]}
    finally:
        bs.drop_db(src)
        bs.drop_db(target)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    print(f"peak memory of snapshot + restore at {SIZE:,} and {FACTOR * SIZE:,} customers "
          f"(cpu count {os.cpu_count()})")
    small = measure(SIZE)
    big = measure(FACTOR * SIZE)
    ratio = big["peak_mb"] / small["peak_mb"]
    flat = ratio <= 1.25
    under = max(small["peak_mb"], big["peak_mb"]) < 300
    print(f"\nresults: peak RSS {small['peak_mb']} MB at {small['rows']:,} rows, {big['peak_mb']} MB at "
          f"{big['rows']:,} rows: ratio {ratio:.2f}x for {big['rows'] / small['rows']:.1f}x the rows")
    print(f"  target < 300 MB: {'met' if under else 'MISSED'}; flat (<= 1.25x): {'met' if flat else 'MISSED'}")
    print("SUMMARY " + json.dumps({"size": SIZE, "factor": FACTOR, "peak_mb_small": small["peak_mb"],
                                   "peak_mb_big": big["peak_mb"], "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
