"""Custom invariants run against a real database."""

from __future__ import annotations

import psycopg2
import pytest

from rehearse.checks.invariants import parse_invariant, run_invariants
from rehearse.errors import BadInput


def test_invariants_hold_and_fail(source_db):
    _, url, dsn = source_db
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10)")
    conn.close()
    invariants = [
        {"name": "ten rows", "sql": "SELECT count(*) FROM t", "expect": 10},
        {"name": "no negatives", "sql": "SELECT count(*) FROM t WHERE id < 0", "expect": "== 0"},
        {"name": "has more than 20", "sql": "SELECT count(*) FROM t", "expect": "> 20"},
        {"name": "broken", "sql": "SELECT count(*) FROM missing_table", "expect": "== 0"},
        {"name": "only after", "sql": "SELECT 1", "expect": "== 0", "phases": ["after_upgrade"]},
    ]
    findings = run_invariants(url, invariants, "before_upgrade")
    assert [(f.code, f.evidence["invariant"]) for f in findings] == [("RH404", "has more than 20"), ("RH404", "broken")]
    assert findings[0].evidence["value"] == 10 and findings[0].phase == "invariant"
    assert "could not run" in findings[1].message
    after = run_invariants(dsn, invariants, "after_upgrade")
    assert "only after" in {f.evidence["invariant"] for f in after}


def test_bad_expectation_is_rejected():
    with pytest.raises(BadInput):
        parse_invariant({"name": "x", "sql": "SELECT 1", "expect": "about five"})
    assert parse_invariant({"name": "x", "sql": "SELECT 1", "expect": ">= 3"}).expect == ">= 3"
