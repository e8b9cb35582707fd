"""The queue's promises under failure: kill -9 of a worker, cancel, restarts, one rehearsal per target."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime

import psycopg2

from .conftest import PG


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except OSError:
        return False


def _child_pid(service, rid: int) -> int:
    name = service.db_url.rsplit("/", 1)[1]
    conn = psycopg2.connect(f"{PG}/{name}")
    with conn.cursor() as cur:
        cur.execute("SELECT child_pid FROM rehearsals WHERE id = %s", (rid,))
        pid = cur.fetchone()[0]
    conn.close()
    return pid


def _wait_running_migration(service, rid: int, timeout: float = 120) -> None:
    """Running, and far enough that staging exists (rehearse printed its staging line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = service.get(rid)
        if row["status"] == "running":
            with service.http.stream("GET", f"/api/rehearsals/{rid}/events") as stream:
                for line in stream.iter_lines():
                    if "upgrad" in line.lower() or "sv02" in line:
                        return
        assert row["status"] == "queued", row
        time.sleep(0.3)
    raise AssertionError("the rehearsal never reached its migrations")


def test_kill_9_of_a_worker_fails_the_rehearsal_frees_the_target_and_leaves_nothing(service, source_db):
    service.target("shop", source_db=source_db())
    service.env["SERVICE_SLEEP_S"] = "60"
    worker = service.start_worker()
    rid = service.submit("shop")
    _wait_running_migration(service, rid)
    child = _child_pid(service, rid)
    assert child and _pid_alive(child)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    row = service.wait_for(rid, ("failed", "error", "passed", "cancelled"), timeout=60)
    assert row["status"] == "failed" and row["status_reason"] == "worker lost"
    deadline = time.monotonic() + 30
    while _pid_alive(child) and time.monotonic() < deadline:  # SIGTERM from the kernel: it tears staging down
        time.sleep(0.2)
    assert not _pid_alive(child), "the rehearsal's child outlived its worker"
    # the target is free: a new worker (which first collects leftovers) runs the next rehearsal of it
    service.env["SERVICE_SLEEP_S"] = "0"
    service.start_worker()
    again = service.submit("shop")
    assert service.wait_for(again, ("passed", "failed", "error", "cancelled"))["status"] == "passed"
    assert service.get(rid)["status"] == "failed"  # never re-run silently
    from rehearse.staging.registry import records
    assert not [rec for _, rec in records() if rec.get("pid") == child], "the lost run's staging is still registered"


def test_cancel_stops_a_running_rehearsal_within_5_seconds(service, source_db):
    service.target("shop", source_db=source_db())
    service.env["SERVICE_SLEEP_S"] = "60"
    service.start_worker()
    rid = service.submit("shop")
    _wait_running_migration(service, rid)
    child = _child_pid(service, rid)
    resp = service.http.post(f"/api/rehearsals/{rid}/cancel")
    assert resp.status_code == 200 and resp.json()["cancel_requested"]
    row = service.wait_for(rid, ("cancelled", "failed", "error", "passed"), timeout=60)
    assert row["status"] == "cancelled"
    assert not _pid_alive(child)
    asked = service.http.get(f"/api/rehearsals/{rid}/events").text  # the stream ends: it is finished
    assert "cancel requested" in asked
    # measured by the service's own clock: request seen by the worker -> rehearsal over
    events = [json.loads(line[6:]) for line in asked.splitlines() if line.startswith("data: {")]
    stamps = {e["line"].split(":")[0]: datetime.fromisoformat(e["at"]) for e in events if "line" in e}
    assert (stamps["finished"] - stamps["cancel requested"]).total_seconds() < 5


def test_cancel_of_a_queued_rehearsal_is_immediate_and_it_never_runs(service, source_db):
    service.target("shop", source_db=source_db())
    rid = service.submit("shop")
    assert service.http.post(f"/api/rehearsals/{rid}/cancel").json()["status"] == "cancelled"
    service.start_worker()
    later = service.submit("shop")
    assert service.wait_for(later, ("passed", "failed", "error"))["status"] == "passed"
    row = service.get(rid)
    assert row["status"] == "cancelled" and row["started_at"] is None
    assert service.http.post(f"/api/rehearsals/{rid}/cancel").status_code == 409


def test_restarting_serve_keeps_queued_rehearsals(service, source_db):
    service.target("shop", source_db=source_db())
    ids = [service.submit("shop", ref=f"r{i}") for i in range(2)]
    service.stop_server()
    service.start_server()
    assert {r["id"]: r["status"] for r in service.http.get("/api/rehearsals").json()} == {i: "queued" for i in ids}
    service.env["SERVICE_SLEEP_S"] = "0"
    service.start_worker()
    for rid in ids:
        assert service.wait_for(rid, ("passed", "failed", "error"))["status"] == "passed"


def test_two_workers_three_targets_ten_rehearsals_never_overlap_per_target(service, source_db):
    for name in ("a", "b", "c"):
        service.target(name, source_db=source_db())
    service.env["SERVICE_SLEEP_S"] = "1"
    service.start_worker()
    service.start_worker()
    ids = [service.submit(("a", "b", "c")[i % 3]) for i in range(10)]
    rows = [service.wait_for(rid, ("passed", "failed", "error", "cancelled"), timeout=600) for rid in ids]
    assert [r["status"] for r in rows] == ["passed"] * 10
    by_target: dict[str, list] = {}
    for r in rows:
        by_target.setdefault(r["target"], []).append((datetime.fromisoformat(r["started_at"]),
                                                      datetime.fromisoformat(r["finished_at"])))
    for target, spans in by_target.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end, f"two rehearsals of {target} overlapped"
    assert len({r["worker_id"] for r in rows}) == 2  # both workers took jobs
