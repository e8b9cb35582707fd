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


# --- two connections, one snapshot, tables cut into block ranges ------------------------------

WIDE = """
CREATE TABLE events (id int PRIMARY KEY, kind text, payload jsonb, at timestamptz);
INSERT INTO events SELECT i, 'k' || i % 7, jsonb_build_object('n', i, 'pad', repeat('x', 60)),
                          timestamptz '2024-01-01' + i * interval '1 second' FROM generate_series(1, 3000) i;
ANALYZE events;
"""


@pytest.fixture()
def split_everything(monkeypatch):
    """Every table with a block is cut in two; the checksum queries are recorded, not altered."""
    from rehearse.rollback import data
    monkeypatch.setattr(data, "SPLIT_ROWS", 0)
    monkeypatch.setattr(data, "SPLIT_BYTES", 0)
    ranges: list[tuple[str, tuple]] = []
    real = data._checksum_query

    def recording(schema, table, columns, blocks=(None, None), extra_rows=()):
        ranges.append((table, blocks))
        return real(schema, table, columns, blocks, extra_rows)
    monkeypatch.setattr(data, "_checksum_query", recording)
    return ranges


def _key(fingerprint):
    return [(t.table, t.rows, t.row_checksum, t.columns, t.stamp) for t in fingerprint.tables]


def test_block_ranges_cover_the_table_and_stay_open_at_both_ends():
    from rehearse.rollback.data import _block_ranges
    assert _block_ranges(10, 2) == [(None, 5), (5, None)]
    assert _block_ranges(7, 3) == [(None, 2), (2, 4), (4, None)]
    assert _block_ranges(1, 2) == [(None, None)]
    assert _block_ranges(0, 2) == [(None, None)]


def test_a_split_table_has_exactly_the_fingerprint_of_an_unsplit_one(conn, shop, run, split_everything):
    run(WIDE)
    serial = data_fingerprint(conn, workers=1)
    assert all(blocks == (None, None) for _, blocks in split_everything)
    split_everything.clear()
    split = data_fingerprint(conn, workers=2)
    halves = [blocks for table, blocks in split_everything if table == "events"]
    assert len(halves) == 2 and halves[0] != halves[1]
    assert _key(split) == _key(serial) and split == serial
    assert split.by_table["public.events"].rows == 3000


def test_parallel_and_serial_fingerprints_are_equal_and_reuse_the_same_tables(conn, shop, run):
    run(WIDE)
    serial, parallel = data_fingerprint(conn, workers=1), data_fingerprint(conn, workers=2)
    assert _key(parallel) == _key(serial)
    run("UPDATE events SET kind = 'changed' WHERE id = 2999")
    again_serial = data_fingerprint(conn, since=serial, workers=1)
    again_parallel = data_fingerprint(conn, since=parallel, workers=2)
    assert _key(again_parallel) == _key(again_serial)
    assert set(again_parallel.reused) == set(again_serial.reused) == {"public.customers", "public.orders"}
    assert [d.columns_changed for d in diff_data(parallel, again_parallel)] == [("kind",)]


def test_changed_values_are_still_named_by_column_after_a_split(conn, shop, run, split_everything):
    run(WIDE)
    before = data_fingerprint(conn, workers=2)
    run("UPDATE events SET payload = '{}' WHERE id = 2990")  # in the second half
    (diff,) = diff_data(before, data_fingerprint(conn, workers=2))
    assert diff.table == "public.events" and diff.columns_changed == ("payload",)
    run("UPDATE events SET payload = '{}' WHERE id = 5")  # and now the first half too
    (diff,) = diff_data(before, data_fingerprint(conn, workers=2))
    assert diff.columns_changed == ("payload",)
    assert "2 non-null values" not in diff.message and "3000 non-null values" in diff.message
    assert {table for table, blocks in split_everything if blocks != (None, None)} >= {"events"}


def test_values_moved_between_the_two_halves_are_caught(conn, shop, run, split_everything):
    run(WIDE)
    before = data_fingerprint(conn, workers=2)
    # swap two kinds between a row of the first half and one of the second: column sums hold
    run("UPDATE events e SET kind = o.kind FROM events o WHERE (e.id, o.id) IN ((1, 2998), (2998, 1))")
    (diff,) = diff_data(before, data_fingerprint(conn, workers=2))
    assert diff.table == "public.events" and "were rearranged" in diff.message


def test_the_proof_of_an_unchanged_table_also_runs_in_halves(conn, shop, run, split_everything):
    run(WIDE)
    first = data_fingerprint(conn, workers=2)
    second = data_fingerprint(conn, since=first, workers=2)
    assert set(second.reused) == {"public.customers", "public.orders", "public.events"}
    run("DELETE FROM events WHERE id = 2999")  # a delete in the second half only lowers the count
    third = data_fingerprint(conn, since=second, workers=2)
    assert "public.events" not in third.reused and third.by_table["public.events"].rows == 2999


def test_the_second_connection_is_closed_afterwards(conn, shop, run):
    import time
    data_fingerprint(conn, workers=2)
    # a closed connection's backend exits a moment after the client hangs up: wait for it
    deadline, others = time.monotonic() + 10, None
    while others != 0 and time.monotonic() < deadline:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()")
            others = cur.fetchone()[0]
        time.sleep(0.05)
    assert others == 0


def test_falls_back_to_one_connection_when_a_second_is_refused(source_db):
    import uuid

    import psycopg2
    _, _, dsn = source_db
    role = f"rh_rb_one_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
        cur.execute(f'GRANT ALL ON SCHEMA public TO "{role}"')
    try:
        only = psycopg2.connect(dsn.replace("user=postgres", f"user={role}"))
        only.autocommit = True
        try:
            with only.cursor() as cur:
                cur.execute(DATA)
            with pytest.raises(psycopg2.OperationalError, match="too many connections"):
                psycopg2.connect(dsn.replace("user=postgres", f"user={role}")).close()
            alone = data_fingerprint(only, workers=2)  # so the second connection is refused
            assert {t.table: t.rows for t in alone.tables} == {"public.customers": 100, "public.orders": 300}
            assert _key(data_fingerprint(admin, workers=1)) == _key(alone)
        finally:
            only.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')
        admin.close()


def test_a_connection_in_its_own_transaction_stays_alone_and_sees_its_writes(conn, shop):
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO orders (id) VALUES (301)")
        fingerprint = data_fingerprint(conn, workers=2)
        assert fingerprint.by_table["public.orders"].rows == 301
        conn.rollback()
    finally:
        conn.autocommit = True
    assert data_fingerprint(conn, workers=2).by_table["public.orders"].rows == 300


def test_an_error_in_either_half_is_raised_and_leaves_the_connection_usable(conn, shop, run, monkeypatch):
    import psycopg2
    from psycopg2 import sql

    from rehearse.rollback import data
    run(WIDE)
    monkeypatch.setattr(data, "SPLIT_ROWS", 0)
    real = data._checksum_query

    def broken_second_half(schema, table, columns, blocks=(None, None), extra_rows=()):
        query = real(schema, table, columns, blocks, extra_rows)
        return sql.SQL("SELECT no_such_column FROM ONLY {}").format(sql.Identifier(table)) \
            if table == "events" and blocks[0] is not None else query
    monkeypatch.setattr(data, "_checksum_query", broken_second_half)
    with pytest.raises(psycopg2.errors.UndefinedColumn):
        data_fingerprint(conn, workers=2)
    monkeypatch.setattr(data, "_checksum_query", real)
    assert data_fingerprint(conn, workers=2).by_table["public.events"].rows == 3000
