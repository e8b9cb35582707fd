"""`make bench`: every benchmark in one run, each measuring its own baseline; prints the ratios.

BENCH_SIZE sets the size (customers; orders are 3x). Each script is run as its own process so
one's memory does not inflate another's peak.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_staging.py", "bench_snapshot.py", "bench_snapshot_memory.py", "bench_trace.py", "bench_rollback.py", "bench_rehearsal.py", "bench_service.py", "bench_long_history.py", "bench_scale.py"]


def main() -> int:
    size = os.environ.get("BENCH_SIZE", "1000000")
    failed = []
    for script in SCRIPTS:
        if not (HERE / script).exists():
            continue
        print(f"\n=== {script} (SIZE={size}) ===", flush=True)
        started = time.perf_counter()
        env = dict(os.environ, SIZE=size)
        code = subprocess.run([sys.executable, str(HERE / script)], env=env).returncode
        print(f"=== {script}: exit {code} in {time.perf_counter() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(script)
    if failed:
        print(f"\nbenchmarks that failed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
