"""The shape normalizer and the --queries readers (no database: pglast only)."""

from __future__ import annotations

import pytest

from rehearse.errors import BadInput
from rehearse.queries.shapes import normalize, read_queries_file, shape_of


def test_a_shape_with_a_literal_left_in_is_dropped():
    assert shape_of("SELECT id FROM orders WHERE email = 'ann@example.com'") is None
    assert shape_of("SELECT id FROM orders WHERE customer_id = 42") is None
    kept = shape_of("SELECT id FROM orders WHERE customer_id = $1 AND note IS NULL")
    assert kept is not None and kept.tables == ("orders",) and kept.kind == "read"
    assert kept.lock_mode == "AccessShareLock"


def test_only_dml_on_tables_is_kept():
    assert shape_of("BEGIN") is None
    assert shape_of("SET work_mem = $1") is None
    assert shape_of("SELECT $1") is None
    assert shape_of("SELECT relname FROM pg_class WHERE oid = $1") is None  # a tool reading the catalog
    assert shape_of("SELECT 1; SELECT 2") is None
    assert shape_of("SELEC nonsense") is None


def test_kind_and_lock_mode():
    assert shape_of("UPDATE customers SET name = $1 WHERE id = $2").lock_mode == "RowExclusiveLock"
    assert shape_of("DELETE FROM public.orders WHERE id = $1").tables == ("public.orders",)
    locking = shape_of("SELECT * FROM orders WHERE id = $1 FOR UPDATE")
    assert (locking.kind, locking.lock_mode) == ("read", "RowShareLock")
    cte = shape_of("WITH d AS (DELETE FROM orders WHERE id = $1 RETURNING id) SELECT * FROM d")
    assert cte.kind == "write" and cte.tables == ("orders",)


def test_normalize_replaces_constants():
    assert normalize("select * from orders where id = 5 and email = 'a@b.c' limit 10") == \
        "select * from orders where id = $1 and email = $2 limit $3"
    assert normalize("not sql at all (") is None


def test_same_shape_different_spacing_has_one_fingerprint():
    a = shape_of("SELECT id FROM orders WHERE customer_id = $1")
    b = shape_of("select  id\n from orders where customer_id = $1")
    assert a.fingerprint == b.fingerprint


def test_csv_export_of_pg_stat_statements(tmp_path):
    path = tmp_path / "pgss.csv"
    path.write_text('userid,dbid,queryid,query,calls,total_exec_time,mean_exec_time\n'
                    '10,5,1,"SELECT id FROM orders WHERE customer_id = $1",1200,600.0,0.5\n'
                    '10,5,2,"SELECT id FROM orders WHERE email = \'x@y.z\'",3,1.0,0.3\n'
                    '10,5,3,"UPDATE customers SET name = $1 WHERE id = $2",40,,\n')
    shapes = read_queries_file(path)
    assert shapes.origin == "csv:pgss.csv" and shapes.dropped == 1
    by_query = {s.query: s for s in shapes.shapes}
    read = by_query["SELECT id FROM orders WHERE customer_id = $1"]
    assert (read.calls, read.mean_ms, read.calls_per_s) == (1200, 0.5, None)
    assert by_query["UPDATE customers SET name = $1 WHERE id = $2"].kind == "write"


def test_log_of_statements_is_normalized_and_counted(tmp_path):
    path = tmp_path / "postgresql.log"
    path.write_text(
        "2026-01-01 10:00:00 UTC [12] LOG:  statement: SELECT name FROM customers WHERE id = 7\n"
        "2026-01-01 10:00:01 UTC [12] LOG:  duration: 0.250 ms  statement: SELECT name FROM customers WHERE id = 9\n"
        "2026-01-01 10:00:02 UTC [13] LOG:  statement: UPDATE customers\n"
        "\tSET name = 'Ann' WHERE id = 3\n"
        "2026-01-01 10:00:03 UTC [13] LOG:  statement: BEGIN\n")
    shapes = read_queries_file(path)
    assert shapes.origin == "log:postgresql.log"
    by_query = {s.query: s for s in shapes.shapes}
    select = by_query["SELECT name FROM customers WHERE id = $1"]
    assert select.calls == 2 and select.mean_ms == 0.25
    assert "UPDATE customers SET name = $1 WHERE id = $2" in by_query  # continued on the next log line
    assert shapes.dropped == 1  # BEGIN
    assert not any("Ann" in q or "7" in q for q in by_query)


def test_plain_sql_file(tmp_path):
    path = tmp_path / "queries.sql"
    path.write_text("SELECT * FROM orders WHERE id = 1;\nSELECT * FROM orders WHERE id = 2;\n")
    shapes = read_queries_file(path)
    assert [(s.query, s.calls) for s in shapes.shapes] == [("SELECT * FROM orders WHERE id = $1", 2)]


def test_missing_file_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        read_queries_file(tmp_path / "nope.csv")
