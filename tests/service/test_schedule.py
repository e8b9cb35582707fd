"""Scheduled snapshot pulls: real workers pull from a real source, keep the last N, and rehearsals use the newest."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from pathlib import Path

import psycopg2

from .conftest import PG, drop_database

FINISHED = ("complete", "failed", "cancelled")


def _snapshots(service, target: str) -> list[dict]:
    resp = service.http.get(f"/api/targets/{target}/snapshots")
    assert resp.status_code == 200, resp.text
    return sorted(resp.json(), key=lambda s: s["id"])


def _wait_pull(service, target: str, sid: int, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = service.http.get(f"/api/targets/{target}/snapshots/{sid}").json()
        if row["status"] in FINISHED:
            return row
        time.sleep(0.2)
    raise AssertionError(f"pull {sid} of {target} still {row['status']} after {timeout} s")


def _first_pull(service, target: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _snapshots(service, target)
        if rows:
            return _wait_pull(service, target, rows[0]["id"])
        time.sleep(0.2)
    raise AssertionError(f"no pull of {target} was scheduled within {timeout} s")


def _pull_now(service, target: str) -> int:
    resp = service.http.post(f"/api/targets/{target}/snapshots")
    assert resp.status_code == 202, resp.text
    assert resp.json()["already_queued"] is False
    return resp.json()["id"]


def test_a_scheduled_target_is_pulled_kept_to_n_and_rehearsed_on_its_newest_snapshot(service, source_db):
    src = source_db()
    target = service.target("nightly", source_url=f"postgresql://postgres:hunter2@127.0.0.1:5432/{src}",
                            snapshot_schedule={"every": "24h", "keep": 2})
    assert target["snapshot_schedule"] == {"every": "24h", "keep": 2, "strict": False}
    service.env["SERVICE_SLEEP_S"] = "0"
    service.start_worker()

    # a new schedule's current slot (today 00:00 UTC) is due at once: the worker pulls it
    first = _first_pull(service, "nightly")
    assert first["status"] == "complete", first
    assert first["requested_by"] == "schedule" and first["slot"]
    assert datetime.fromisoformat(first["slot"]).timestamp() % 86400 == 0
    assert first["revision"] == "sv01" and first["row_counts"] == {"public.alembic_version": 1, "public.chores": 300}
    path = Path(first["path"])
    assert (path / "manifest.json").is_file() and service.tmp / "data" / "snapshots" / "nightly" in path.parents
    assert first["size_bytes"] == sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    # more heartbeats find the same slot: it is never pulled twice
    time.sleep(7)
    assert [s["id"] for s in _snapshots(service, "nightly")] == [first["id"]]

    # "pull now" twice: keep=2 deletes the oldest directory
    second = _wait_pull(service, "nightly", _pull_now(service, "nightly"))
    third = _wait_pull(service, "nightly", _pull_now(service, "nightly"))
    assert second["status"] == third["status"] == "complete" and second["slot"] is None
    rows = {s["id"]: s for s in _snapshots(service, "nightly")}
    assert rows[first["id"]]["status"] == "deleted" and rows[first["id"]]["deleted_at"]
    assert not path.exists()
    assert all(Path(rows[s["id"]]["path"], "manifest.json").is_file() for s in (second, third))

    # a rehearsal of the target restores the newest complete snapshot
    rid = service.submit("nightly", ref="main")
    row = service.wait_for(rid, ("passed", "failed", "error", "cancelled"))
    assert row["status"] == "passed", row
    assert row["snapshot_id"] == third["id"]

    # a failed pull is recorded with its reason and leaves the older snapshots alone
    drop_database(src)
    failed = _wait_pull(service, "nightly", _pull_now(service, "nightly"))
    assert failed["status"] == "failed" and "does not exist" in failed["status_reason"], failed
    assert not Path(failed["path"]).exists()
    logged = service.http.get(f"/api/targets/nightly/snapshots/{failed['id']}").json()["events"]
    assert logged[0]["line"].startswith("started: snapshot") and "hunter2" not in str(logged) + str(failed)
    rows = {s["id"]: s for s in _snapshots(service, "nightly")}
    assert [rows[s["id"]]["status"] for s in (second, third)] == ["complete", "complete"]
    assert all(Path(rows[s["id"]]["path"], "manifest.json").is_file() for s in (second, third))

    actions = [r["action"] for r in service.http.get("/api/audit").json() if r["action"].startswith("snapshot.")]
    for action in ("snapshot.queue", "snapshot.start", "snapshot.complete", "snapshot.request", "snapshot.delete",
                   "snapshot.failed"):
        assert action in actions, actions


def test_two_workers_on_a_short_interval_never_pull_one_slot_twice_nor_one_target_at_once(service, source_db):
    service.target("often", source_db=source_db(), snapshot_schedule={"every": "2s", "keep": 2})
    service.start_worker()
    service.start_worker()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        rows = _snapshots(service, "often")
        done = [r for r in rows if r["status"] in ("complete", "deleted")]
        assert sum(r["status"] == "complete" for r in rows) <= 2, rows
        if len(done) >= 4:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"fewer than 4 pulls finished in 240 s: {rows}")
    for proc in service.workers:  # no pull may start while we look at the rows
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in service.workers:
        proc.wait(timeout=60)

    rows = _snapshots(service, "often")
    slots = [r["slot"] for r in rows if r["slot"]]
    assert len(slots) == len(set(slots)), slots
    # only a pull cut short by the stop above may have failed, as "worker lost"
    assert not [r for r in rows if r["status"] == "failed" and r["status_reason"] != "worker lost"], rows
    spans = sorted((datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["pulled_at"]))
                   for r in rows if r["pulled_at"])
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, f"two pulls of one target overlapped: {spans}"
    assert sum(r["status"] == "complete" for r in rows) == 2
    for r in rows:
        if r["status"] == "deleted":
            assert not Path(r["path"]).exists()
        if r["status"] == "complete":
            assert Path(r["path"], "manifest.json").is_file()
    assert len({r["worker_id"] for r in rows if r["worker_id"]}) >= 1


def test_a_scheduled_target_without_a_snapshot_yet_errors_with_the_reason(service):
    # a source that does not exist: the first scheduled pull fails, so no snapshot is complete
    body = {"name": "empty", "project_path": str(Path(__file__).resolve().parents[1] / "projects" / "service_sleep"),
            "source_url": f"{PG}/no_such_db_{time.monotonic_ns()}", "snapshot_schedule": "24h"}
    assert service.http.post("/api/targets", json=body).status_code == 201
    service.start_worker()
    first = _first_pull(service, "empty")
    assert first["status"] == "failed" and first["status_reason"]
    rid = service.submit("empty")
    row = service.wait_for(rid, ("passed", "failed", "error", "cancelled"))
    assert row["status"] == "error" and "no complete snapshot yet" in row["status_reason"], row


def test_schedules_are_validated_when_the_target_is_saved(service):
    base = {"name": "s", "project_path": "/p", "source_url": f"{PG}/x"}
    for schedule in ({"every": "0.2s"}, {"cron": "61 * * * *"}, {"every": "1h", "keep": 0}, "sometimes",
                     {"every": "1h", "cron": "0 3 * * *"}, {"every": "1h", "when": "now"}):
        resp = service.http.post("/api/targets", json={**base, "snapshot_schedule": schedule})
        assert resp.status_code == 422, (schedule, resp.text)
        body = resp.json()
        assert set(body) == {"what", "why", "hint"} and all(body.values()), body
    resp = service.http.post("/api/targets", json={"name": "s", "project_path": "/p", "snapshot_schedule": "24h"})
    assert resp.status_code == 422 and "source_url" in resp.json()["what"]
    resp = service.http.post("/api/targets", json={**base, "snapshot": "/s", "snapshot_schedule": "24h"})
    assert resp.status_code == 422
    assert service.http.get("/api/targets/s").status_code == 404  # nothing was stored
    ok = service.http.post("/api/targets", json={**base, "snapshot_schedule": "0 3 * * *"})
    assert ok.status_code == 201 and ok.json()["snapshot_schedule"] == {"cron": "0 3 * * *", "keep": 3,
                                                                         "strict": False}
    fixed = service.http.post("/api/targets", json={"name": "fixed", "project_path": "/p", "snapshot": "/s"})
    assert fixed.status_code == 201
    assert service.http.post("/api/targets/fixed/snapshots").status_code == 409
    assert service.http.get("/api/targets/nope/snapshots").status_code == 404


def test_only_an_admin_pulls_now(service):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "rehearse.cli", "token", "create", "--role", "approver", "--db",
                          service.db_url], capture_output=True, text=True, timeout=60)
    approver = out.stdout.strip()
    service.http.post("/api/targets", json={"name": "s", "project_path": "/p", "source_url": f"{PG}/x",
                                            "snapshot_schedule": "24h"}).raise_for_status()
    resp = service.http.post("/api/targets/s/snapshots", headers={"Authorization": f"Bearer {approver}"})
    assert resp.status_code == 403
    assert service.http.get("/api/targets/s/snapshots", headers={"Authorization": f"Bearer {approver}"}).json() == []
    # no worker runs here: a pull asked for stays queued, and cancelling it frees the target's queueing lock
    queued = service.http.post("/api/targets/s/snapshots")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    again = service.http.post("/api/targets/s/snapshots")
    assert again.status_code == 200 and again.json()["already_queued"] and again.json()["id"] == queued.json()["id"]
    sid = queued.json()["id"]
    assert service.http.post(f"/api/targets/s/snapshots/{sid}/cancel").json()["status"] == "cancelled"
    assert service.http.post(f"/api/targets/s/snapshots/{sid}/cancel").status_code == 409
    assert service.http.post("/api/targets/s/snapshots").status_code == 202  # a new one can be queued
    conn = psycopg2.connect(f"{PG}/{service.db_url.rsplit('/', 1)[1]}")
    with conn.cursor() as cur:
        cur.execute("SELECT status FROM procrastinate_jobs WHERE task_name = 'rehearse.service.jobs.pull_task' "
                    "ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == ["cancelled", "todo"]
        cur.execute("SELECT count(*) FROM snapshots WHERE requested_by = 'schedule'")
        assert cur.fetchone()[0] == 0  # no worker runs here, so nothing scheduled a pull either
    conn.close()
