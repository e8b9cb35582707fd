"""Production's query shapes, end to end: a source with pg_stat_statements, an application workload
running known parameterized queries while `rehearse run --source` samples it, and a history that
breaks one of them (qs02), takes away the index another needs (qs03) and holds a long exclusive
lock on a busy table (qs04). Each is reported with its numbers."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from rehearse.staging.local import LocalBackend
from rehearse.staging.registry import RunRecord
from tests.report.pagetext import element_text

from .conftest import PROJECTS, at_revision, read_report, rehearse

INI = PROJECTS / "query_shapes" / "alembic.ini"

# what the application sends: (statement, parameters); psycopg binds on the server, so the shapes have $n
READ_LEGACY = ("SELECT id, legacy_status FROM orders WHERE customer_id = %s", lambda i: (1 + i % 2000,))
COUNT_BY_CUSTOMER = ("SELECT count(*) FROM orders WHERE customer_id = %s", lambda i: (1 + i % 2000,))
READ_CUSTOMER = ("SELECT name FROM customers WHERE id = %s", lambda i: (1 + i % 2000,))
RENAME_CUSTOMER = ("UPDATE customers SET name = %s WHERE id = %s", lambda i: (f"c{i}", 1 + i % 2000))
WORKLOAD = (READ_LEGACY, COUNT_BY_CUSTOMER, READ_CUSTOMER, RENAME_CUSTOMER)


@pytest.fixture()
def stats_source():
    """A throwaway source cluster with pg_stat_statements preloaded, at qs01; yields (url, dsn)."""
    run = RunRecord(f"test-pgss-{uuid.uuid4().hex[:6]}")
    backend = LocalBackend(run, None, extra_settings={"shared_preload_libraries": "pg_stat_statements",
                                                      "pg_stat_statements.track": "top"})
    try:
        db = backend.start(None)
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        url = db.url
        at_revision(INI, url, "qs01")
        yield url, db.dsn
    finally:
        backend.close()
        run.close()


class Workload(threading.Thread):
    """The application: each statement of WORKLOAD in turn, about ``rate`` statements per second."""

    def __init__(self, dsn: str, rate: float = 40.0) -> None:
        super().__init__(daemon=True)
        self.dsn, self.rate, self.stop = dsn, rate, threading.Event()
        self.sent = 0

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            i = 0
            while not self.stop.is_set():
                sql, params = WORKLOAD[i % len(WORKLOAD)]
                conn.execute(sql, params(i), prepare=False)
                i += 1
                self.sent += 1
                time.sleep(1.0 / self.rate)


def _finding(report: dict, code: str, revision: str | None = None) -> list[dict]:
    found = list(report["findings"])
    for rev in report["revisions"]:
        found.extend(rev["findings"])
    return [f for f in found if f["code"] == code and (revision is None or f["revision"] == revision)]


def test_shapes_from_production_break_slow_down_and_wait(tmp_path, stats_source):
    url, dsn = stats_source
    workload = Workload(dsn)
    workload.start()
    try:
        time.sleep(1.0)  # every shape has run at least once before the first sample
        snap = rehearse("snapshot", url, "-o", str(tmp_path / "snap"), "--no-strict", "--traffic-window", "3")
    finally:
        workload.stop.set()
        workload.join(10)
    assert snap.returncode == 0, snap.stderr
    assert "query shape(s) from pg_stat_statements" in snap.stderr
    proc = rehearse("run", "--snapshot", str(tmp_path / "snap"), "--no-strict", "--alembic-ini", str(INI),
                    "--report-dir", str(tmp_path / "r"), "--format", "json", "--format", "markdown",
                    "--format", "html")
    assert proc.returncode in (0, 1), proc.stderr
    report = read_report(tmp_path / "r")
    q = report["queries"]
    assert q["checked"] and q["origin"] == "pg_stat_statements", q
    assert q["window_s"] >= 3.0

    # the shapes are stored in the snapshot, listed in the manifest with their checksum
    import json
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    assert "queries.json" in manifest["extras"]
    stored = json.loads((tmp_path / "snap" / "queries.json").read_text())
    queries = {s["query"]: s for s in stored["shapes"]}
    legacy = next(s for q_, s in queries.items() if "legacy_status" in q_)
    assert "$1" in legacy["query"] and legacy["tables"] == ["orders"] and legacy["kind"] == "read"
    assert legacy["calls_per_s"] > 0
    update = next(s for q_, s in queries.items() if q_.upper().startswith("UPDATE CUSTOMERS"))
    assert update["kind"] == "write" and update["lock_mode"] == "RowExclusiveLock"
    assert not any("'" in s["query"] for s in stored["shapes"])  # no constant is left in any shape

    # qs02 drops a column the workload reads: the old application breaks during the deploy
    broken = _finding(report, "RH410", "qs02")
    assert len(broken) == 1, _finding(report, "RH410")
    assert broken[0]["severity"] == "critical"
    assert "legacy_status" in broken[0]["message"] and "calls/min" in broken[0]["message"]
    assert [s["query"] for s in broken[0]["evidence"]["shapes"]] == [legacy["query"]]
    assert not _finding(report, "RH410", "qs01")
    assert not _finding(report, "RH410", "qs03") and not _finding(report, "RH410", "qs04")  # reported once
    # the rolled-back schema is qs01's own: the shapes prepare again there (no after-rollback finding)
    assert not [f for f in _finding(report, "RH410") if f["phase"] == "after-rollback"]

    # qs03 removes the index the lookups by customer use: the plan loses it, a seq scan on 30,000 rows
    lost = [f for f in _finding(report, "RH411") if "count(" in f["evidence"]["query"].lower()]
    assert lost, _finding(report, "RH411")
    assert lost[0]["evidence"]["lost_indexes"] == ["ix_orders_customer_id"]
    assert lost[0]["evidence"]["new_seq_scans"] == ["orders"]
    plans = {p["query"]: p for p in q["plans"]}
    count_plan = next(p for k, p in plans.items() if "count(" in k.lower())
    assert "ix_orders_customer_id" in count_plan["before"]["indexes"] and count_plan["after"]["seq_scans"] == ["orders"]
    assert count_plan["before"]["latency_ms"] is not None and count_plan["after"]["latency_ms"] is not None

    # qs04 holds ACCESS EXCLUSIVE on customers for ~2 s: the reads and writes of customers wait
    down = [d for d in q["downtime"] if d["revision"] == "qs04" and d["step"] == "upgrade" and "customers" in d["table"]
            and d["lock_mode"] == "AccessExclusiveLock"]
    assert down, q["downtime"]
    d = max(down, key=lambda x: x["held_s"])
    assert d["held_s"] >= 1.5  # pg_sleep(2) inside the lock: a measurement, wide margin
    assert d["read_shapes"] == 1 and d["write_shapes"] == 1
    rates = {s["query"]: s["calls_per_s"] for s in stored["shapes"]}
    read_rate = next(r for k, r in rates.items() if k.upper().startswith("SELECT NAME FROM CUSTOMERS"))
    window = d["wait_s"] + d["held_s"]
    assert d["reads_blocked"] == pytest.approx(read_rate * window, rel=0.01, abs=0.1)
    assert d["reads_blocked"] > 0 and d["writes_blocked"] > 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert f"at production's rate, qs04 blocks about" in md and f"on {d['table']} for" in md
    assert "Production's queries" in md
    page = (tmp_path / "r" / "report.html").read_text()
    assert f"after this revision {legacy['query']} orders" in element_text(page, "rev-qs02")
    assert f"upgrade {d['table']} AccessExclusiveLock" in element_text(page, "rev-qs04")
    assert "loses ix_orders_customer_id; new sequential scan on orders" in element_text(page, "production-queries")


def test_without_the_extension_the_checks_say_not_checked(tmp_path, source_db):
    """The 5432 server has no pg_stat_statements: one line says so, and the report says "not checked"."""
    _, url, _ = source_db
    at_revision(INI, url, "qs01")
    proc = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(INI), "--to", "qs02",
                    "--report-dir", str(tmp_path / "r"), "--traffic-window", "0", "--format", "json",
                    "--format", "markdown", "--format", "html")
    assert proc.returncode in (0, 1), proc.stderr
    report = read_report(tmp_path / "r")
    assert report["queries"]["checked"] is False
    assert "pg_stat_statements is not available" in report["queries"]["note"]
    assert "pg_stat_statements is not available" in proc.stderr
    assert not _finding(report, "RH410")
    assert "not checked" in (tmp_path / "r" / "report.md").read_text()
    section = element_text((tmp_path / "r" / "report.html").read_text(), "production-queries")
    assert section == f"Production's queries Not checked: {report['queries']['note']}"
