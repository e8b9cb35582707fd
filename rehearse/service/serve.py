"""`rehearse serve`: the HTTP API, and on the embedded default its own cluster and one worker."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from ..urls import redact
from . import store

log = logging.getLogger("rehearse.service")


class _Stopped(Exception):
    pass


def _raise_stopped(signum, frame) -> None:
    raise _Stopped(signum)


def bootstrap(db_url: str) -> None:
    """Schema up to date; the first admin token from REHEARSE_ADMIN_TOKEN, the first admin user from
    REHEARSE_ADMIN_PASSWORD (user REHEARSE_ADMIN_USER, default "admin"; only while that user does not exist)."""
    store.migrate(db_url)
    token = os.environ.get("REHEARSE_ADMIN_TOKEN")
    password = os.environ.get("REHEARSE_ADMIN_PASSWORD")
    if token or password:
        eng = store.engine(db_url, pool_size=1)
        with eng.begin() as conn:
            if token:
                store.create_token(conn, "admin", "admin", token)
            name = os.environ.get("REHEARSE_ADMIN_USER") or "admin"
            if password and store.get_user(conn, name) is None:
                from .auth import hash_password
                store.put_user(conn, name, hash_password(password), "admin")
                store.audit(conn, "service", "user.create", name, role="admin", via="REHEARSE_ADMIN_PASSWORD")
        eng.dispose()


def serve(db_url: str | None, *, host: str, port: int, data_dir: Path | None, workers: int | None,
          say=print) -> None:
    import uvicorn

    from .app import create_app

    cluster = None
    worker_procs: list[subprocess.Popen] = []
    if db_url is None:
        from .embedded import EmbeddedCluster
        cluster = EmbeddedCluster(data_dir)
        db_url = cluster.start()
        say(f"service database: {cluster.dir} ({redact(db_url)})")
        workers = 1 if workers is None else workers
    try:
        bootstrap(db_url)
        for _ in range(workers or 0):
            # same process group: a Ctrl-C in the terminal reaches the worker too
            worker_dir = ["--data-dir", str(cluster.dir if cluster is not None else data_dir)] \
                if cluster is not None or data_dir is not None else []
            worker_procs.append(subprocess.Popen([sys.executable, "-m", "rehearse.cli", "worker", "--db", db_url,
                                                  *worker_dir]))
        say(f"rehearse service on http://{host}:{port} (OpenAPI at /api/openapi.json), "
            f"{len(worker_procs)} worker(s) in this process")
        config = uvicorn.Config(create_app(db_url), host=host, port=port, log_level="warning", access_log=False)
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal under the handlers
        # it found: make those raise _Stopped so the worker and the cluster are stopped below
        previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            uvicorn.Server(config).run()
        except _Stopped:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        for proc in worker_procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in worker_procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if cluster is not None:
            cluster.stop()
