"""Service fixtures: a fresh service database per test, `rehearse serve` and workers as real processes."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg2
import pytest

from tests.e2e.conftest import PROJECTS, at_revision  # noqa: F401

ADMIN = "rh_test_admin_" + secrets.token_hex(8)
PG = "postgresql://postgres@127.0.0.1:5432"


def _admin_sql(sql: str) -> None:
    conn = psycopg2.connect(f"{PG}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def make_database(prefix: str) -> str:
    name = f"{prefix}_{secrets.token_hex(4)}"
    _admin_sql(f"CREATE DATABASE {name}")
    return name


def drop_database(name: str) -> None:
    _admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A service database, one `rehearse serve` on a free port, and the workers a test starts."""

    def __init__(self, db_url: str, tmp: Path) -> None:
        self.db_url = db_url
        self.tmp = tmp
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.env = dict(os.environ, REHEARSE_ADMIN_TOKEN=ADMIN, SERVICE_SLEEP_S=os.environ.get("SERVICE_SLEEP_S", "3"),
                        REHEARSE_GITHUB_SECRET="gh-secret", REHEARSE_GITLAB_SECRET="gl-secret",
                        REHEARSE_DATA_DIR=str(tmp / "data"))  # scheduled snapshots land in the test's own dir
        self.http = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)

    def start_server(self, **extra_env: str) -> None:
        log = open(self.tmp / f"serve-{time.monotonic_ns()}.log", "wb")
        self.server = subprocess.Popen([sys.executable, "-m", "rehearse.cli", "serve", "--db", self.db_url,
                                        "--port", str(self.port), "--workers", "0"],
                                       env={**self.env, **extra_env}, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.server.poll() is None, log.name
            time.sleep(0.1)
        raise AssertionError("rehearse serve did not answer /api/health within 60 s")

    def stop_server(self) -> None:
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            self.server.wait(timeout=30)

    def start_worker(self) -> subprocess.Popen:
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "rehearse.cli", "worker", "--db", self.db_url],
                                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers.append(proc)
        return proc

    def target(self, name: str, project: str = "service_sleep", source_db: str | None = None, **fields) -> dict:
        body = {"name": name, "project_path": str(PROJECTS / project), "source_url": f"{PG}/{source_db}", **fields}
        resp = self.http.post("/api/targets", json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def submit(self, target: str, ref: str | None = None, token: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        resp = self.http.post("/api/rehearsals", json={"target": target, "ref": ref}, headers=headers)
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def get(self, rid: int) -> dict:
        return self.http.get(f"/api/rehearsals/{rid}").json()

    def wait_for(self, rid: int, statuses: tuple[str, ...], timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.get(rid)
            if row["status"] in statuses:
                return row
            time.sleep(0.2)
        raise AssertionError(f"rehearsal {rid} still {row['status']} after {timeout} s, wanted {statuses}")

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.stop_server()
        self.http.close()


@pytest.fixture()
def source_db():
    """A "production" database of the service_sleep project at sv01 (so sv02 is what gets rehearsed)."""
    names = []

    def make(project: str = "service_sleep", revision: str = "sv01") -> str:
        name = make_database("svc_src")
        names.append(name)
        at_revision(PROJECTS / project / "alembic.ini", f"{PG}/{name}", revision)
        return name

    yield make
    for name in names:
        drop_database(name)


@pytest.fixture()
def service(tmp_path):
    name = make_database("svc_db")
    svc = Service(f"{PG}/{name}", tmp_path)
    svc.start_server()
    try:
        yield svc
    finally:
        svc.close()
        drop_database(name)
