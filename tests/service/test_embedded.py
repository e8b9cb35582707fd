"""The embedded default: `rehearse serve` with no --db keeps its own cluster and runs one worker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import PROJECTS

from .conftest import ADMIN, PG, free_port


def _serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, REHEARSE_ADMIN_TOKEN=ADMIN, SERVICE_SLEEP_S="0")
    proc = subprocess.Popen([sys.executable, "-m", "rehearse.cli", "serve", "--data-dir", str(data_dir),
                             "--port", str(port)], env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(log.read_text())


def _postmaster_running(data_dir: Path) -> bool:
    pidfile = data_dir / "pgdata" / "postmaster.pid"
    if not pidfile.exists():
        return False
    try:
        os.kill(int(pidfile.read_text().split()[0]), 0)
    except (ProcessLookupError, ValueError):
        return False
    return True


def test_serve_without_db_keeps_its_cluster_runs_a_worker_and_stops_cleanly(tmp_path, source_db):
    # not under pytest's mode-700 tmp: the cluster runs as the postgres OS user when we are root
    data_dir = Path(tempfile.mkdtemp(prefix="rehearse-svc-embedded-"))
    port, log = free_port(), tmp_path / "serve.log"
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
    try:
        proc = _serve(data_dir, port, log)
        assert _postmaster_running(data_dir)
        http.post("/api/targets", json={"name": "shop", "project_path": str(PROJECTS / "service_sleep"),
                                        "source_url": f"{PG}/{source_db()}"}).raise_for_status()
        rid = http.post("/api/rehearsals", json={"target": "shop"}).json()["id"]
        deadline = time.monotonic() + 180
        while (status := http.get(f"/api/rehearsals/{rid}").json()["status"]) in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert status == "passed"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not _postmaster_running(data_dir), "SIGTERM left the service's cluster running"
        # persistent: a new serve on the same directory has the history
        proc = _serve(data_dir, port, log)
        assert http.get(f"/api/rehearsals/{rid}").json()["status"] == "passed"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        http.close()
        if _postmaster_running(data_dir):
            subprocess.run(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
                            "/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(data_dir / "pgdata"), "-m", "immediate",
                            "stop"], capture_output=True)
        shutil.rmtree(data_dir, ignore_errors=True)
