"""Data fingerprints on a real database: lost columns, changed values, rows, tables."""

from __future__ import annotations

import pytest

from rehearse.rollback.data import data_fingerprint, diff_data, tables_with_rows

DATA = """
CREATE TABLE customers (id serial PRIMARY KEY, email text, profile jsonb, born date);
INSERT INTO customers (email, profile, born)
SELECT 'c' || i || '@example.org', jsonb_build_object('plan', i % 3), date '1990-01-01' + i FROM generate_series(1, 100) i;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount numeric(12, 2), currency text,
                     created_at timestamptz);
INSERT INTO orders SELECT i, 1 + i % 100, i * 1.25, CASE WHEN i % 10 <> 0 THEN 'EUR' END,
                          timestamptz '2024-01-01' + i * interval '1 minute' FROM generate_series(1, 300) i;
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('0001');
"""


@pytest.fixture()
def shop(run):
    run(DATA)


def _diff(conn, run, change):
    before = data_fingerprint(conn)
    run(change)
    return diff_data(before, data_fingerprint(conn))


def test_identical_data_compares_clean_whatever_the_session_timezone(conn, shop, run):
    before = data_fingerprint(conn)
    run("SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'German'; UPDATE alembic_version SET version_num = '0002'")
    after = data_fingerprint(conn)
    assert after == before
    assert diff_data(before, after) == ()
    assert {t.table: t.rows for t in before.tables} == {"public.customers": 100, "public.orders": 300}


def test_a_dropped_column_with_data_is_reported_with_its_count(conn, shop, run):
    (diff,) = _diff(conn, run, "ALTER TABLE orders DROP COLUMN currency")
    assert diff.table == "public.orders" and diff.columns_changed == ("currency",)
    assert diff.rows_before == diff.rows_after == 300
    assert diff.message == "column orders.currency was dropped: 270 non-null values lost"


def test_a_column_dropped_and_added_back_empty_is_data_loss(conn, shop, run):
    (diff,) = _diff(conn, run, "ALTER TABLE orders DROP COLUMN currency; ALTER TABLE orders ADD COLUMN currency text")
    assert diff.message == "column orders.currency is back empty: 270 non-null values lost"


def test_changed_values_are_named_by_column(conn, shop, run):
    (diff,) = _diff(conn, run, "UPDATE customers SET profile = '{}' WHERE id = 7")
    assert diff.columns_changed == ("profile",)
    assert "values of column customers.profile changed" in diff.message


def test_values_that_became_null_are_counted(conn, shop, run):
    (diff,) = _diff(conn, run, "UPDATE customers SET email = NULL WHERE id <= 10")
    assert diff.message == "column customers.email lost values: 10 of 100 non-null values are now NULL"


def test_a_lossy_type_round_trip_is_caught_and_a_lossless_one_is_not(conn, shop, run):
    assert _diff(conn, run, "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint; "
                            "ALTER TABLE orders ALTER COLUMN customer_id TYPE integer") == ()
    (diff,) = _diff(conn, run, "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12, 0); "
                               "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12, 2)")
    assert diff.columns_changed == ("amount",)


def test_a_row_count_change_is_reported(conn, shop, run):
    (diff,) = _diff(conn, run, "DELETE FROM orders WHERE id > 250")
    assert (diff.rows_before, diff.rows_after) == (300, 250)
    assert diff.message == "table orders has 250 rows after the downgrade; it had 300 (50 rows lost)"


def test_values_moved_between_rows_are_caught(conn, shop, run):
    (diff,) = _diff(conn, run, "UPDATE customers c SET email = o.email FROM customers o WHERE o.id = 101 - c.id")
    assert "were rearranged" in diff.message


def test_a_table_gone_is_a_difference_and_a_new_table_is_not(conn, shop, run):
    diffs = _diff(conn, run, "DROP TABLE orders; CREATE TABLE shipments (id int); INSERT INTO shipments VALUES (1)")
    assert [(d.table, d.rows_before, d.rows_after) for d in diffs] == [("public.orders", 300, None)]
    assert diffs[0].message == "table orders is gone after the downgrade: 300 rows lost"


def test_since_reuses_untouched_tables_and_still_sees_every_change(conn, shop, run):
    first = data_fingerprint(conn)
    second = data_fingerprint(conn, since=first)
    assert set(second.reused) == {"public.customers", "public.orders"}
    assert second == first

    run("UPDATE orders SET amount = amount + 1 WHERE id = 3")
    third = data_fingerprint(conn, since=second)
    assert third.reused == ("public.customers",)
    (diff,) = diff_data(first, third)
    assert diff.columns_changed == ("amount",)

    run("DELETE FROM customers WHERE id = 5")
    assert [d.table for d in diff_data(first, data_fingerprint(conn, since=third))] == [
        "public.customers", "public.orders"]

    run("VACUUM FULL orders")  # a rewrite: a new file, so nothing is taken on trust
    fourth = data_fingerprint(conn, since=third)
    assert "public.orders" not in fourth.reused
    assert fourth.by_table["public.orders"] == third.by_table["public.orders"]


def test_named_tables_only_and_missing_names_left_out(conn, shop):
    fingerprint = data_fingerprint(conn, ["orders", "public.alembic_version", "nope"])
    assert [t.table for t in fingerprint.tables] == ["public.orders", "public.alembic_version"]


def test_tables_with_rows(conn, shop, run):
    run("CREATE TABLE empty_one (i int)")
    assert tables_with_rows(conn, ["orders", "public.customers", "empty_one", "missing"]) == {
        "orders": 300, "public.customers": 100, "empty_one": 0}


def test_previous_and_changed_as_the_pipeline_passes_them(conn, shop, run):
    first = data_fingerprint(conn)
    again = data_fingerprint(conn, previous=first, changed={"orders"})
    assert again.reused == ("public.customers",) and again == first


def test_touched_set_from_the_lock_trace_skips_untouched_tables_without_a_scan(conn, run):
    run("CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, 'x' || g FROM generate_series(1, 50) g;"
        "CREATE TABLE b (id int PRIMARY KEY, v text); INSERT INTO b SELECT g, 'y' || g FROM generate_series(1, 50) g;")
    first = data_fingerprint(conn)
    run("UPDATE b SET v = 'changed' WHERE id = 7")
    second = data_fingerprint(conn, since=first, touched={"public.b"})
    assert "public.a" in second.reused and "public.b" not in second.reused
    diffs = diff_data(first, second)
    assert [d.table for d in diffs] == ["public.b"] and "v" in diffs[0].columns_changed
    # the set is trusted only together with the physical stamp: a rewrite is re-read anyway
    run("ALTER TABLE a ALTER COLUMN v TYPE varchar(20)")
    third = data_fingerprint(conn, since=second, touched=set())
    assert "public.a" not in third.reused
