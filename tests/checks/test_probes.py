"""Probes on real tables with planted violating rows: exact counts, primary keys only, transaction untouched."""

from __future__ import annotations

import psycopg2
import pytest

from rehearse.checks import check_step
from rehearse.checks.probes import preflight, table_stats
from rehearse.model import StatementTrace, StepResult

SETUP = """
CREATE TABLE users (id bigint PRIMARY KEY, email text);
INSERT INTO users SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 10) g;
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, code text, qty int, amount text, note text);
-- planted: user_id NULL for ids 3, 6, 9 (3 rows); user_id 11 and 12 (no such user) for ids 11, 12 (ids 13..)
INSERT INTO orders SELECT g, CASE WHEN g IN (3, 6, 9) THEN NULL WHEN g IN (11, 12) THEN g ELSE 1 END,
       CASE WHEN g IN (2, 4, 8) THEN 'dup' ELSE 'c' || g END, g - 3,
       CASE WHEN g IN (5, 15) THEN 'x' || g ELSE g::text END, 'secret note ' || g
FROM generate_series(1, 20) g;
CREATE TABLE nokey (v text); INSERT INTO nokey VALUES ('a'), (NULL), (NULL);
"""


@pytest.fixture()
def conn(source_db):
    c = psycopg2.connect(source_db[2])
    with c.cursor() as cur:
        cur.execute(SETUP)
    c.commit()
    yield c
    c.close()


def _one(result):
    (violation,) = result["violations"]
    return violation


@pytest.mark.parametrize("sql, kind, rows, keys", [
    ("ALTER TABLE orders ALTER COLUMN user_id SET NOT NULL", "not_null", 3, [[3], [6], [9]]),
    ("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users NOT VALID", "foreign_key", 2, [[11], [12]]),
    ("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id)", "foreign_key", 2, [[11], [12]]),
    ("ALTER TABLE orders ADD CONSTRAINT u UNIQUE (code)", "unique", 3, [[2], [4], [8]]),
    ("CREATE UNIQUE INDEX CONCURRENTLY ux ON orders (code)", "unique", 3, [[2], [4], [8]]),
    ("CREATE UNIQUE INDEX ux ON orders (code) WHERE id > 3", "unique", 2, [[4], [8]]),
    ("ALTER TABLE orders ADD CONSTRAINT ck CHECK (qty > 0)", "check", 3, [[1], [2], [3]]),
    ("ALTER TABLE orders ALTER COLUMN amount TYPE int USING amount::int", "cast", 2, [[5], [15]]),
    ("ALTER TABLE orders ALTER COLUMN amount TYPE numeric", "cast", 2, [[5], [15]]),
    ("ALTER TABLE orders ADD COLUMN z int NOT NULL", "not_null", 20, [[1], [2], [3], [4], [5]]),
    ("ALTER TABLE orders ALTER COLUMN qty TYPE bigint", "cast", 0, []),
])
def test_probe_counts_planted_rows(conn, sql, kind, rows, keys):
    with conn.cursor() as cur:
        v = _one(preflight(sql, cur))
    assert (v["kind"], v["table"], v["rows"], v["sample_keys"]) == (kind, "public.orders", rows, keys)
    if rows:
        assert v["key_columns"] == ["id"]
    assert "secret" not in repr(v) and "example.com" not in repr(v)


def test_table_without_primary_key_samples_ctid(conn):
    with conn.cursor() as cur:
        v = _one(preflight("ALTER TABLE nokey ALTER COLUMN v SET NOT NULL", cur))
    assert v["rows"] == 2 and v["key_columns"] == ["ctid"] and len(v["sample_keys"]) == 2


def test_nothing_to_probe_and_new_tables_are_skipped(conn):
    with conn.cursor() as cur:
        assert preflight("ALTER TABLE orders ADD COLUMN y int", cur) == {}
        assert preflight("CREATE INDEX ix ON orders (code)", cur) == {}
        assert preflight("ALTER TABLE not_yet_created ALTER COLUMN a SET NOT NULL", cur) == {}


def test_migration_transaction_is_untouched(conn):
    with conn.cursor() as cur:
        cur.execute("SET LOCAL statement_timeout = '123s'")
        cur.execute("UPDATE orders SET note = 'changed' WHERE id = 1")
        result = preflight("ALTER TABLE orders ALTER COLUMN amount TYPE int USING amount::int", cur)
        assert _one(result)["rows"] == 2
        # a probe that fails (no such column) reports instead of raising, and aborts nothing
        failed = preflight("ALTER TABLE orders ADD CONSTRAINT ck CHECK (no_such_column > 0)", cur)
        assert "probe_error" in failed
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "123s"
        cur.execute("SELECT note FROM orders WHERE id = 1")
        assert cur.fetchone()[0] == "changed"
        cur.execute("SELECT count(*) FROM pg_proc WHERE proname = 'rehearse_cast_fails'")
        assert cur.fetchone()[0] == 0
        cur.execute("ALTER TABLE orders ALTER COLUMN qty SET NOT NULL")  # the migration carries on
    conn.commit()


def test_autocommit_connection_is_probed_in_its_own_transaction(conn):
    conn.autocommit = True
    with conn.cursor() as cur:
        assert _one(preflight("ALTER TABLE orders ALTER COLUMN user_id SET NOT NULL", cur))["rows"] == 3
        assert conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "0"


def test_probe_result_becomes_a_finding(conn):
    sql = "ALTER TABLE orders ALTER COLUMN user_id SET NOT NULL"
    with conn.cursor() as cur:
        probes = preflight(sql, cur)
    trace = StatementTrace(sql=sql, duration_s=0.01, ok=False, probes=probes, location="versions/x.py:12")
    findings = [f for f in check_step("x1", StepResult(ok=False, duration_s=0.1, statements=(trace,)))
                if f.code == "RH204"]
    assert len(findings) == 1
    f = findings[0]
    assert f.evidence["rows"] == 3 and f.evidence["sample_keys"] == [[3], [6], [9]]
    assert f.location == "versions/x.py:12" and f.revision == "x1" and f.severity == "critical"


def test_table_stats(conn):
    with conn.cursor() as cur:
        cur.execute("ANALYZE orders")
        stats = table_stats(cur, ["orders", "public.users", "missing"])
    assert stats["orders"][0] == 20 and stats["orders"][1] > 0
    assert "missing" not in stats
