"""The embedded default: one persistent local PostgreSQL cluster holding the service database.

It lives in a data directory that survives restarts (queued rehearsals and history with it).
PostgreSQL refuses to run as root, so as root initdb and pg_ctl run as the ``postgres`` OS user
(FACTS.md) and the default directory is /var/lib/rehearse/service: ``postgres`` cannot enter
root's mode-700 home, where ~/.local/share would put it.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from pathlib import Path

from ..errors import InfrastructureError
from ..pgbin import server_bindir
from ..staging.common import free_port

DATABASE = "rehearse"


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/rehearse/service")
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "rehearse" / "service"


def _as_postgres() -> dict:
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam(os.environ.get("REHEARSE_PG_OS_USER", "postgres"))
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _run(cmd: list[str], what: str) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd="/", **_as_postgres())
    if out.returncode != 0:
        raise InfrastructureError(f"{what} failed for the service cluster: {(out.stderr or out.stdout).strip()[-300:]}",
                                  hint="check the data directory (--data-dir) and its log, postgres.log")


class EmbeddedCluster:
    """start() returns the service database URL; stop() stops the cluster if this process started it."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.dir = Path(data_dir or default_data_dir()).resolve()
        self.pgdata = self.dir / "pgdata"
        self.bindir = server_bindir(None)[0]
        self.started_here = False

    @property
    def port(self) -> int:
        return int((self.dir / "port").read_text())

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def running(self) -> bool:
        out = subprocess.run([str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "status"], capture_output=True,
                             cwd="/", **_as_postgres())
        return out.returncode == 0

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        ids = _as_postgres()
        if ids:
            os.chown(self.dir, ids["user"], ids["group"])
            os.chmod(self.dir, 0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            _run([str(self.bindir / "initdb"), "-D", str(self.pgdata), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C.UTF-8"], "initdb")
            (self.dir / "port").write_text(str(free_port()))
        if self.running():
            return self.url
        (self.dir / "run").mkdir(exist_ok=True)
        if ids:
            os.chown(self.dir / "run", ids["user"], ids["group"])
        opts = f"-p {self.port} -k {self.dir / 'run'} -c listen_addresses=127.0.0.1"
        _run([str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.dir / "postgres.log"), "-w",
              "-t", "60", "-o", opts, "start"], "pg_ctl start")
        self.started_here = True
        self._create_database()
        return self.url

    def _create_database(self) -> None:
        import psycopg2
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f"CREATE DATABASE {DATABASE}")
        conn.close()

    def stop(self) -> None:
        if self.started_here and self.running():
            _run([str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"], "pg_ctl stop")
