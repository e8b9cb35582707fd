"""Benchmark: a whole `rehearse run` of the demo history, measured stage by stage.

Seeds the demo shop (SIZE customers, 3 x SIZE orders) in a throwaway "production" cluster,
snapshots it once, then times in the same run:
  * the rehearsal with and without the data checksums of the rollback proof
    (issue target: fingerprints + checksums add at most 20% to the rehearsal);
  * a fresh restore vs `--reuse` of a kept restore of the same snapshot (target <= 0.2x).
Runs alternate so background load hits both sides alike; medians are printed.

    SIZE=100000 RUNS=3 .venv/bin/python benchmarks/bench_rehearsal.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "migrations")]

from rehearse.staging import open_staging  # noqa: E402
from seed import seed  # noqa: E402

SIZE = int(os.environ.get("SIZE", "100000"))
RUNS = int(os.environ.get("RUNS", "3"))
REHEARSE = str(Path(sys.executable).parent / "rehearse")
ENV = dict(os.environ, REHEARSE_SECRET=os.environ.get("REHEARSE_SECRET", "bench-" + uuid.uuid4().hex))


def rehearse_run(snapshot: Path, out: Path, *flags: str) -> dict:
    cmd = [REHEARSE, "run", "--snapshot", str(snapshot), "--alembic-ini", str(REPO / "migrations" / "alembic.ini"),
           "--report-dir", str(out), "-q", *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if proc.returncode not in (0, 1):
        sys.exit(f"rehearse run failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads((out / "report.json").read_text())


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="rh-bench-run-"))
    try:
        snapshot = work / "snapshot"
        with open_staging("local", run_id="bench-prod-" + uuid.uuid4().hex[:6]) as prod:
            seed(prod.url, SIZE, 3 * SIZE)
            subprocess.run([REHEARSE, "snapshot", prod.url, "-o", str(snapshot),
                            "--policy", str(REPO / "demo" / "rehearse.yaml")], check=True, env=ENV,
                           capture_output=True)
        with_data, without = [], []
        for i in range(RUNS):
            for kind in (("with", "without") if i % 2 == 0 else ("without", "with")):
                flag = "--data-checks" if kind == "with" else "--no-data-checks"
                report = rehearse_run(snapshot, work / f"r-{kind}-{i}", flag)
                s = report["stages"]
                rehearsal = sum(v for k, v in s.items() if k not in ("restore", "staging", "snapshot"))
                (with_data if kind == "with" else without).append((rehearsal, s.get("fingerprint", 0.0)))
        w = statistics.median(r for r, _ in with_data)
        wo = statistics.median(r for r, _ in without)
        print(f"rehearsal after restore, with data checksums:    median {w:.2f} s")
        print(f"rehearsal after restore, without data checksums: median {wo:.2f} s")
        print(f"RATIO rollback-proof data checksums add {100 * (w / wo - 1):.0f}% (target <= 20%) "
              f"{'OK' if w / wo <= 1.2 else 'MISSED'}")

        first = rehearse_run(snapshot, work / "reuse-0", "--reuse", "--no-data-checks")
        restores, reuses = [], []
        for i in range(RUNS):
            fresh = rehearse_run(snapshot, work / f"fresh-{i}", "--no-data-checks")
            restores.append(fresh["stages"].get("restore", 0.0) + fresh["stages"].get("staging", 0.0))
            again = rehearse_run(snapshot, work / f"reuse-{i + 1}", "--reuse", "--no-data-checks")
            reuses.append(again["stages"].get("restore", 0.0) + again["stages"].get("staging", 0.0))
        r, u = statistics.median(restores), statistics.median(reuses)
        print(f"staging ready by fresh restore: median {r:.2f} s; by --reuse: median {u:.2f} s "
              f"(first --reuse run, which keeps the template: "
              f"{first['stages'].get('restore', 0) + first['stages'].get('staging', 0):.2f} s)")
        print(f"RATIO reuse / restore = {u / r:.2f}x (target <= 0.20x) {'OK' if u / r <= 0.2 else 'MISSED'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
