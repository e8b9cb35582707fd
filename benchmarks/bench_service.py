"""The service under read load, and the time from submit to start (bounded, loopback only).

1. 50 concurrent clients read lists and details of a seeded service (20 targets, 2,000 rehearsals)
   at an open-loop 200 requests/s for 10 s; p50/p99 latency, next to /api/health at the same rate
   as the baseline (what the server, the client and the machine cost without the service's queries).
2. Submit-to-start with an idle worker: created_at -> started_at of 5 rehearsals, one at a time.
Targets from the issue: p99 < 100 ms at 200 req/s; submit-to-start < 2 s.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import psycopg2

REPO = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432"
TOKEN = "rh_bench_" + secrets.token_hex(8)
RATE, SECONDS, CLIENTS = 200, 10, 50


def admin(sql: str) -> None:
    conn = psycopg2.connect(f"{PG}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str, source_db: str) -> None:
    sys.path.insert(0, str(REPO))
    from rehearse.service import store
    store.migrate(url)
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO targets (name, project_path, source_url) SELECT 't' || g, %s, %s "
                    "FROM generate_series(1, 20) g",
                    (str(REPO / "tests/projects/service_sleep"), f"{PG}/{source_db}"))
        cur.execute("INSERT INTO rehearsals (target, ref, requested_by, status, started_at, finished_at, exit_code) "
                    "SELECT 't' || (g % 20 + 1), 'main', 'bench', 'passed', now(), now(), 0 "
                    "FROM generate_series(1, 2000) g")


async def load(port: int, paths: list[str]) -> list[float]:
    """Open loop: request i is due at i/RATE s whatever happened before; latency counts from its due time.

    Each client is one keep-alive HTTP/1.1 connection on raw asyncio streams: httpx's async pool
    costs more CPU per request than the server does, and on 2 shared cores that would be measured.
    """
    latencies: list[float] = []
    total = RATE * SECONDS
    start = time.perf_counter() + 0.5

    async def client(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(k, total, CLIENTS):
            due = start + i / RATE
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            writer.write(f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: bench\r\n"
                         f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            assert status == 200, head
            latencies.append(time.perf_counter() - due)
        writer.close()

    await asyncio.gather(*(client(k) for k in range(CLIENTS)))
    return latencies


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] * 1000


def main() -> int:
    db, src = f"bench_svc_{secrets.token_hex(4)}", f"bench_svc_src_{secrets.token_hex(4)}"
    admin(f"CREATE DATABASE {db}")
    admin(f"CREATE DATABASE {src}")
    url = f"{PG}/{db}"
    procs: list[subprocess.Popen] = []
    try:
        from alembic import command
        from alembic.config import Config
        cfg = Config(str(REPO / "tests/projects/service_sleep/alembic.ini"))
        cfg.set_main_option("sqlalchemy.url", f"postgresql+psycopg2://postgres@127.0.0.1:5432/{src}")
        command.upgrade(cfg, "sv01")
        seed(url, src)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, REHEARSE_ADMIN_TOKEN=TOKEN, SERVICE_SLEEP_S="0")
        procs.append(subprocess.Popen([sys.executable, "-m", "rehearse.cli", "serve", "--db", url, "--port", str(port),
                                       "--workers", "0"], env=env, cwd=REPO))
        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        reads = ["/api/rehearsals?limit=50", "/api/targets", "/api/rehearsals/100", "/api/targets/t3",
                 "/api/rehearsals?target=t5&limit=20", "/api/rehearsals/1500"]
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as one:
            costs = []
            for i in range(300):  # closed loop, one client: what a request costs the server on this machine
                t0 = time.perf_counter()
                one.get(reads[i % len(reads)]).raise_for_status()
                costs.append(time.perf_counter() - t0)
        print(f"one client, one request at a time: p50 {pct(costs, 50):.1f} ms, p99 {pct(costs, 99):.1f} ms "
              f"(machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        baseline = asyncio.run(load(port, ["/api/health"]))
        service = asyncio.run(load(port, reads))
        print(f"read load: {CLIENTS} clients, {RATE} req/s open loop for {SECONDS} s, {len(service)} requests")
        print(f"  /api/health (baseline): p50 {pct(baseline, 50):6.1f} ms  p99 {pct(baseline, 99):6.1f} ms")
        print(f"  lists and details     : p50 {pct(service, 50):6.1f} ms  p99 {pct(service, 99):6.1f} ms  "
              f"(p99 ratio to baseline {pct(service, 99) / pct(baseline, 99):.2f}x; target < 100 ms)")

        procs.append(subprocess.Popen([sys.executable, "-m", "rehearse.cli", "worker", "--db", url], env=env, cwd=REPO))
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        time.sleep(3)  # the worker is up and idle
        waits = []
        for _ in range(5):
            rid = http.post("/api/rehearsals", json={"target": "t1"}).json()["id"]
            while (row := http.get(f"/api/rehearsals/{rid}").json())["status"] in ("queued", "running"):
                time.sleep(0.2)
            waits.append((datetime.fromisoformat(row["started_at"]) - datetime.fromisoformat(row["created_at"]))
                         .total_seconds())
        print(f"submit-to-start with an idle worker: median {statistics.median(waits):.2f} s, max {max(waits):.2f} s "
              f"over {len(waits)} (target < 2 s)")
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin(f"DROP DATABASE IF EXISTS {src} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
