"""Benchmark of the rollback proof: what fingerprints and checksums add to a rehearsal step.

Builds customers (SIZE rows, text + jsonb) and orders (3 x SIZE rows) in a fresh database on
the 127.0.0.1:5432 server, then times one representative step: the fingerprints before the
upgrade, the upgrade (ALTER COLUMN amount TYPE bigint + CREATE INDEX), the downgrade (DROP
INDEX + ALTER COLUMN amount TYPE integer) and the fingerprints after it. The issue's target:
fingerprints + checksums add at most 20% to the rehearsal of that step.

    SIZE=100000 .venv/bin/python benchmarks/bench_rollback.py     (SIZE defaults to 100_000)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rehearse.rollback.data import data_fingerprint, diff_data  # noqa: E402
from rehearse.rollback.fingerprint import diff_schema, schema_fingerprint  # noqa: E402

SERVER = os.environ.get("REHEARSE_TEST_SERVER", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
SIZE = int(os.environ.get("SIZE", "100000"))
RUNS = int(os.environ.get("RUNS", "3"))

BUILD = """
CREATE TABLE customers (
    id bigint PRIMARY KEY, email text NOT NULL, name text, country text,
    profile jsonb, created_at timestamptz NOT NULL);
INSERT INTO customers
SELECT i, 'user' || i || '@example.org', 'Name ' || md5(i::text), (ARRAY['FR','DE','US','JP'])[1 + i %% 4],
       jsonb_build_object('plan', (ARRAY['free','pro','team'])[1 + i %% 3], 'tags', jsonb_build_array(i %% 7, i %% 11),
                          'bio', repeat(md5(i::text), 2)),
       timestamptz '2023-01-01' + i * interval '37 seconds'
FROM generate_series(1, %(n)s) i;
CREATE TABLE orders (
    id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers(id), amount integer NOT NULL,
    currency text NOT NULL, status text NOT NULL, note text, created_at timestamptz NOT NULL);
INSERT INTO orders
SELECT i, 1 + (i::bigint * 7919) %% %(n)s, (i * 31) %% 100000, 'EUR', (ARRAY['new','paid','shipped'])[1 + i %% 3],
       CASE WHEN i %% 5 = 0 THEN 'gift ' || i END, timestamptz '2023-01-01' + i * interval '11 seconds'
FROM generate_series(1, 3 * %(n)s) i;
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('0001');
ANALYZE;
"""

UPGRADE = ["ALTER TABLE orders ALTER COLUMN amount TYPE bigint",
           "CREATE INDEX ix_orders_created_at ON orders (created_at)",
           "UPDATE alembic_version SET version_num = '0002'"]
DOWNGRADE = ["DROP INDEX ix_orders_created_at",
             "ALTER TABLE orders ALTER COLUMN amount TYPE integer",
             "UPDATE alembic_version SET version_num = '0001'"]


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def _run(cur, statements):
    def go():
        for statement in statements:
            cur.execute(statement)
    return _timed(go)[1]


def main() -> None:
    name = f"rh_bench_rb_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(SERVER)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        conn = psycopg2.connect(SERVER.replace("dbname=postgres", f"dbname={name}"))
        conn.autocommit = True
        cur = conn.cursor()
        _, build_s = _timed(lambda: cur.execute(BUILD, {"n": SIZE}))
        print(f"SIZE={SIZE}: customers {SIZE} rows, orders {3 * SIZE} rows, built in {build_s:.1f} s")
        full, full_s = _timed(lambda: data_fingerprint(conn))
        print(f"full data fingerprint (every table hashed): {full_s:.2f} s "
              f"({4 * SIZE / full_s:,.0f} rows/s)")
        rows = []
        last = full
        for run in range(RUNS):
            # As a rehearsal runs it: each fingerprint starts from the previous one (`since`),
            # so only tables the migration touched are hashed again.
            schema_before, s1 = _timed(lambda: schema_fingerprint(conn))
            data_before, d1 = _timed(lambda: data_fingerprint(conn, since=last))
            up = _run(cur, UPGRADE)
            down = _run(cur, DOWNGRADE)
            schema_after, s2 = _timed(lambda: schema_fingerprint(conn))
            data_after, d2 = _timed(lambda: data_fingerprint(conn, since=data_before))
            last = data_after
            print(f"  reused before: {', '.join(data_before.reused) or '-'}; after: {', '.join(data_after.reused) or '-'}")
            assert data_after == full, diff_data(full, data_after)
            assert not diff_schema(schema_before, schema_after), diff_schema(schema_before, schema_after)
            assert not diff_data(data_before, data_after), diff_data(data_before, data_after)
            rows.append((s1 + s2, d1 + d2, up, down))
            print(f"run {run + 1}: schema fingerprints {1000 * (s1 + s2):.1f} ms, data fingerprints "
                  f"{d1 + d2:.2f} s, upgrade {up:.2f} s, downgrade {down:.2f} s")
        schema_s = statistics.median(r[0] for r in rows)
        data_s = statistics.median(r[1] for r in rows)
        migration_s = statistics.median(r[2] + r[3] for r in rows)
        ratio = (schema_s + data_s) / migration_s
        print(f"median: schema fingerprint {1000 * schema_s / 2:.1f} ms each, data fingerprints "
              f"{data_s:.2f} s per step (before + after), upgrade+downgrade {migration_s:.2f} s")
        print(f"fingerprints / migration = {ratio:.0%} (target <= 20% of the rehearsal)")
        conn.close()
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
