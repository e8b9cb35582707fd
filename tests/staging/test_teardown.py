"""Teardown you can trust: a real child process killed at different points leaves nothing behind.

SIGINT and SIGTERM must unwind through open_staging (cluster stopped, directory removed,
scratch database dropped, registry record gone); SIGKILL cannot be caught, so the record
must let ``gc.collect`` remove everything once the child is dead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from rehearse.staging import gc, registry

from .conftest import SERVER_URL, admin_execute

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys, time, psycopg2
from rehearse.staging import open_staging, install_signal_handlers
spec, run_id, point = sys.argv[1], sys.argv[2], sys.argv[3]
install_signal_handlers() if point.endswith("+handlers") else None

def announce(db, where):
    print(json.dumps({"where": where, "dsn": db.dsn, "database": db.database}), flush=True)

def populate(db):
    conn = psycopg2.connect(db.dsn)
    conn.autocommit = True
    conn.cursor().execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS id")
    conn.close()
    if point.startswith("populate"):
        announce(db, "populate")
        time.sleep(60)

with open_staging(spec, run_id=run_id, populate=populate, keep=point == "keep") as db:
    announce(db, "ready")
    if point != "keep":
        time.sleep(60)
"""


def _postgres_processes_under(path: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if path in cmd or cwd.startswith(path):
            found.append(int(proc.name))
    return found


def _start_child(spec: str, point: str):
    run_id = "k" + uuid.uuid4().hex[:10]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, spec, run_id, point], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    line = child.stdout.readline()
    if not line:
        child.wait(10)
        pytest.fail(f"child did not reach {point}: {child.stderr.read()[-2000:]}")
    info = json.loads(line)
    time.sleep(0.2)  # let it settle into its sleep
    return child, run_id, info


def _left_behind(spec: str, run_id: str, info: dict) -> list[str]:
    left = []
    if spec == "local":
        rundir = info["dsn"].split("host=")[1].split()[0]
        if Path(rundir).exists():
            left.append(f"directory {rundir}")
        pids = _postgres_processes_under(rundir)
        if pids:
            left.append(f"postgres processes {pids}")
    else:
        if admin_execute("SELECT 1 FROM pg_database WHERE datname = %s", (info["database"],)):
            left.append(f"database {info['database']}")
    if (registry.runs_dir() / f"{run_id}.json").exists():
        left.append("registry record")
    return left


def _wait_gone(spec, run_id, info, timeout=30.0) -> list[str]:
    # generous: only a busy machine makes it wait, and a pass never depends on how long it took
    deadline = time.monotonic() + timeout
    while True:
        left = _left_behind(spec, run_id, info)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


SPECS = ["local", SERVER_URL]


@pytest.mark.parametrize("spec", SPECS, ids=["local", "server"])
@pytest.mark.parametrize("point", ["populate", "ready", "ready+handlers"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_unwinds_and_removes_everything(spec, point, sig):
    child, run_id, info = _start_child(spec, point)
    assert _left_behind(spec, run_id, info), "the child should hold live resources"
    child.send_signal(sig)
    child.wait(timeout=30)
    assert child.returncode != 0
    left = _wait_gone(spec, run_id, info)
    assert not left, f"left behind after {sig.name} at {point}: {left}\n{child.stderr.read()[-1500:]}"


@pytest.mark.parametrize("spec", SPECS, ids=["local", "server"])
@pytest.mark.parametrize("point", ["populate", "ready"])
def test_sigkill_leaves_a_record_gc_removes(spec, point):
    child, run_id, info = _start_child(spec, point)
    child.kill()
    child.wait(timeout=10)
    assert _left_behind(spec, run_id, info), "SIGKILL cannot be caught, so something must remain for gc"
    removed = gc.collect(quiet=True, docker=False)
    assert any(run_id in line for line in removed), removed
    left = _wait_gone(spec, run_id, info)
    assert not left, f"left behind after SIGKILL at {point} and gc: {left}"


def test_gc_leaves_live_runs_alone():
    child, run_id, info = _start_child("local", "ready")
    try:
        gc.collect(quiet=True, docker=False)
        assert (registry.runs_dir() / f"{run_id}.json").exists()
        assert Path(info["dsn"].split("host=")[1].split()[0]).exists()
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
    assert not _wait_gone("local", run_id, info)


def test_kept_run_survives_gc_until_asked():
    child, run_id, info = _start_child("local", "keep")
    child.wait(timeout=30)
    assert child.returncode == 0
    left = _left_behind("local", run_id, info)
    assert left and "registry record" in left, "--keep leaves the cluster and its record"
    gc.collect(quiet=True, docker=False)
    assert _left_behind("local", run_id, info) == left
    removed = gc.collect(quiet=True, docker=False, include_kept=True)
    assert any(run_id in line for line in removed)
    assert not _wait_gone("local", run_id, info)
