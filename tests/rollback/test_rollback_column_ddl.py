"""Steps that only run column DDL on a table get only their new or changed columns hashed.

The lock trace says no row was written (``touched`` without the table) and the table's file is
the same: the other columns keep their sums. The rollback proof must still see everything it
saw before: values lost, and values moved between rows by a step in between.
"""

from __future__ import annotations

import pytest

from rehearse.rollback.data import data_fingerprint, diff_data

DATA = """
CREATE TABLE t (id int PRIMARY KEY, a text, b int, note varchar(10));
INSERT INTO t SELECT i, 'a' || i, i * 7, CASE WHEN i % 3 <> 0 THEN 'n' || i END FROM generate_series(1, 200) i;
"""


@pytest.fixture()
def table(run):
    run(DATA)


def _same_as_a_full_hash(conn, fingerprint):
    full = data_fingerprint(conn)
    mine, theirs = fingerprint.by_table["public.t"], full.by_table["public.t"]
    assert mine.rows == theirs.rows and mine.columns == theirs.columns


def test_added_then_dropped_column_hashes_only_that_column(conn, run, table):
    before = data_fingerprint(conn)
    run("ALTER TABLE t ADD COLUMN c text DEFAULT 'x'")  # no rewrite, no row written
    added = data_fingerprint(conn, since=before, touched=set())
    assert added.narrowed == ("public.t",)
    assert added.by_table["public.t"].by_column["c"].non_null == 200
    _same_as_a_full_hash(conn, added)
    run("ALTER TABLE t DROP COLUMN c")
    dropped = data_fingerprint(conn, since=added, touched=set())
    assert dropped.narrowed == ("public.t",)  # nothing left to hash: every sum is kept
    _same_as_a_full_hash(conn, dropped)
    assert diff_data(before, dropped) == ()


def test_type_change_in_place_is_hashed_whole(conn, run, table):
    """A changed column is hashed again, and every row checksum it covers with it: the whole table."""
    before = data_fingerprint(conn)
    run("ALTER TABLE t ALTER COLUMN note TYPE varchar(20)")  # a wider varchar: no rewrite
    after = data_fingerprint(conn, since=before, touched=set())
    assert "public.t" not in after.narrowed and "public.t" not in after.reused
    _same_as_a_full_hash(conn, after)
    assert diff_data(before, after) == ()


def test_values_moved_between_rows_by_a_step_in_between_are_still_seen(conn, run, table):
    before = data_fingerprint(conn)
    run("ALTER TABLE t ADD COLUMN c text")
    step1 = data_fingerprint(conn, since=before, touched=set())
    assert step1.narrowed == ("public.t",)
    # rows written: hashed whole, also over the columns `before` had
    run("UPDATE t SET a = CASE id WHEN 1 THEN 'a2' WHEN 2 THEN 'a1' END WHERE id IN (1, 2)")
    step2 = data_fingerprint(conn, since=step1, touched={"public.t"})
    assert "public.t" not in step2.narrowed and "public.t" not in step2.reused
    run("ALTER TABLE t DROP COLUMN c")
    step3 = data_fingerprint(conn, since=step2, touched=set())
    assert step3.narrowed == ("public.t",)
    (diff,) = diff_data(before, step3)
    assert "were rearranged" in diff.message


def test_values_lost_in_a_kept_column_are_still_seen(conn, run, table):
    before = data_fingerprint(conn)
    run("ALTER TABLE t ADD COLUMN c int")
    step1 = data_fingerprint(conn, since=before, touched=set())
    run("UPDATE t SET c = b, b = NULL")  # the upgrade moves b into c ...
    step2 = data_fingerprint(conn, since=step1, touched={"public.t"})
    run("ALTER TABLE t DROP COLUMN c")  # ... and the downgrade drops c without moving it back
    step3 = data_fingerprint(conn, since=step2, touched=set())
    (diff,) = diff_data(before, step3)
    assert diff.columns_changed == ("b",) and "is back empty" in diff.message


def test_a_wrong_touched_set_falls_back_to_a_whole_hash(conn, run, table):
    """Rows that came or went despite the trace: the narrow scan's count shows it."""
    before = data_fingerprint(conn)
    run("DELETE FROM t WHERE id > 190; ALTER TABLE t ADD COLUMN c int")
    after = data_fingerprint(conn, since=before, touched=set())
    assert "public.t" not in after.narrowed
    _same_as_a_full_hash(conn, after)
    (diff,) = diff_data(before, after)
    assert "10 rows lost" in diff.message


def test_a_rewrite_is_hashed_whole(conn, run, table):
    before = data_fingerprint(conn)
    run("ALTER TABLE t ALTER COLUMN b TYPE bigint")  # a new file
    after = data_fingerprint(conn, since=before, touched=set())
    assert "public.t" not in after.narrowed and "public.t" not in after.reused
    _same_as_a_full_hash(conn, after)


def test_a_row_check_survives_a_column_changing_type_and_back(conn, run, table):
    """The set `before` covers cannot be summed while b is text; it is summed again once b is back."""
    before = data_fingerprint(conn)
    run("ALTER TABLE t ADD COLUMN c int")
    f1 = data_fingerprint(conn, since=before, touched=set())
    run("ALTER TABLE t ALTER COLUMN b TYPE text USING b::text")  # a rewrite, and another hash method
    f2 = data_fingerprint(conn, since=f1, touched=set())
    run("UPDATE t SET a = CASE id WHEN 5 THEN 'a6' WHEN 6 THEN 'a5' END WHERE id IN (5, 6)")
    f3 = data_fingerprint(conn, since=f2, touched={"public.t"})
    run("ALTER TABLE t ALTER COLUMN b TYPE int USING b::int")
    f4 = data_fingerprint(conn, since=f3, touched=set())
    run("ALTER TABLE t DROP COLUMN c")
    f5 = data_fingerprint(conn, since=f4, touched=set())
    assert f1.narrowed == ("public.t",) and f5.narrowed == ("public.t",)
    (diff,) = diff_data(before, f5)
    assert "were rearranged" in diff.message
