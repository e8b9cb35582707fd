"""`make demo`: a whole rehearsal, end to end, on throwaway clusters only.

1. start a throwaway "production" PostgreSQL cluster and seed it with Faker data at the
   demo shop's first revision; 2. `rehearse snapshot` it, anonymized, into snapshots/demo;
3. `rehearse run` the demo's Alembic history on a second throwaway cluster; 4. print where
the reports are; the production cluster is torn down at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "migrations"))

from rehearse.staging import open_staging  # noqa: E402
from seed import seed  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--snapshot", type=Path, default=REPO / "snapshots" / "demo")
    parser.add_argument("--report-dir", type=Path, default=REPO / "reports" / "demo")
    args = parser.parse_args()

    env = dict(os.environ)
    env.setdefault("REHEARSE_SECRET", "demo-secret-" + uuid.uuid4().hex)  # a fresh key per demo run
    rehearse = str(Path(sys.executable).parent / "rehearse")
    started = time.perf_counter()
    with open_staging("local", run_id="demo-prod-" + uuid.uuid4().hex[:6]) as prod:
        print(f"· production stand-in: throwaway cluster, seeding {args.customers:,} customers "
              f"and {args.orders:,} orders at the first revision", flush=True)
        result = seed(prod.url, args.customers, args.orders)
        print(f"· seeded in {time.perf_counter() - started:.1f} s ({result})", flush=True)
        if args.snapshot.exists():
            shutil.rmtree(args.snapshot)
        pulled = subprocess.run([rehearse, "snapshot", prod.url, "-o", str(args.snapshot),
                                 "--policy", str(REPO / "demo" / "rehearse.yaml"), "--strict"], env=env)
        if pulled.returncode != 0:
            print("· demo stopped: the snapshot failed (see the line above)", file=sys.stderr)
            return pulled.returncode
    code = subprocess.run([rehearse, "run", "--snapshot", str(args.snapshot),
                           "--alembic-ini", str(REPO / "migrations" / "alembic.ini"),
                           "--report-dir", str(args.report_dir),
                           "--format", "json", "--format", "md", "--format", "html",
                           "--format", "junit", "--format", "sarif"], env=env).returncode
    print(f"\n· demo finished in {time.perf_counter() - started:.1f} s; rehearse exit code {code} "
          f"({'passed' if code == 0 else 'found problems, as the demo history is meant to' if code == 1 else 'error'})")
    print(f"· reports: {args.report_dir}/report.md, report.html, report.json, report.junit.xml, report.sarif")
    return 0 if code in (0, 1) else code


if __name__ == "__main__":
    sys.exit(main())
