"""Schema rules on a real database: foreign keys without an index, row counts that drop."""

from __future__ import annotations

import psycopg2

from rehearse.checks import check_row_counts, check_schema


def _run(dsn, sql):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


SETUP = """
CREATE TABLE users (id bigint PRIMARY KEY);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));
CREATE TABLE invoices (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));
CREATE INDEX ix_invoices_user_id ON invoices (user_id, id);
CREATE TABLE lines (a bigint, b bigint, FOREIGN KEY (a, b) REFERENCES lines_parent (x, y));
"""


def test_fk_without_index_is_found(source_db):
    _, _, dsn = source_db
    _run(dsn, "CREATE TABLE lines_parent (x bigint, y bigint, PRIMARY KEY (x, y));" + SETUP
         + "CREATE INDEX ix_lines_ba ON lines (b, a);")
    findings = check_schema(dsn)
    tables = sorted(f.evidence["table"] for f in findings)
    assert tables == ["public.orders"]  # invoices has a leading index; lines (b, a) covers (a, b)
    f = findings[0]
    assert (f.code, f.name) == ("RH401", "require-index-for-foreign-key")
    assert f.evidence["columns"] == ["user_id"] and f.evidence["references"] == "users"


def test_only_tables_limits_fk_check(source_db):
    _, _, dsn = source_db
    _run(dsn, "CREATE TABLE lines_parent (x bigint, y bigint, PRIMARY KEY (x, y));" + SETUP)
    assert {f.evidence["table"] for f in check_schema(dsn)} == {"public.orders", "public.lines"}
    assert [f.evidence["table"] for f in check_schema(dsn, only_tables={"lines"})] == ["public.lines"]
    assert check_schema(dsn, only_tables=["public.invoices"]) == []


def test_row_count_drop():
    findings = check_row_counts({"public.a": 100, "public.b": 50, "public.gone": 9},
                                {"public.a": 100, "public.b": 48, "public.new": 1}, revision="r2")
    assert [(f.code, f.evidence["table"], f.evidence["lost"], f.revision) for f in findings] == [
        ("RH402", "public.b", 2, "r2")]
