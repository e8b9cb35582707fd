"""Finding PostgreSQL's own programs (initdb, pg_ctl, pg_dump, pg_restore, psql) by major version."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from .errors import InfrastructureError

_SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql@*/bin",
           "/usr/local/opt/postgresql@*/bin", "/usr/local/pgsql/bin")


@lru_cache(maxsize=None)
def installed_bindirs() -> dict[int, Path]:
    """Every PostgreSQL bin directory found on this machine, by major version."""
    found: dict[int, Path] = {}
    candidates = [Path(p) for pattern in _SEARCH for p in glob.glob(pattern)]
    if os.environ.get("REHEARSE_PG_BINDIR"):
        candidates.insert(0, Path(os.environ["REHEARSE_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0:
                candidates.append(Path(out.stdout.strip()))
        except OSError:
            pass
    for bindir in candidates:
        major = _major_of(bindir)
        if major is not None and major not in found:
            found[major] = bindir
    return found


def _major_of(bindir: Path) -> int | None:
    exe = bindir / "postgres"
    if not exe.exists():
        exe = bindir / "pg_ctl"
    if not exe.exists():
        return None
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    m = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    return int(m.group(1)) if m else None


def server_bindir(major: int | None = None) -> tuple[Path, int, str | None]:
    """The bin directory holding a server of ``major`` (else the newest), with a warning if it differs."""
    dirs = {m: d for m, d in installed_bindirs().items() if (d / "initdb").exists() and (d / "postgres").exists()}
    if not dirs:
        raise InfrastructureError(
            "no PostgreSQL server binaries (initdb, postgres) were found on this machine",
            hint="install PostgreSQL (e.g. apt-get install postgresql) or set REHEARSE_PG_BINDIR",
        )
    if major in dirs:
        return dirs[major], major, None
    newest = max(dirs)
    warning = None
    if major is not None:
        warning = (f"the source runs PostgreSQL {major} but only {', '.join(map(str, sorted(dirs)))} "
                   f"is installed here; staging uses {newest}, so results may differ from production")
    return dirs[newest], newest, warning


def client_tool(name: str, server_major: int | None = None) -> str:
    """A client program (pg_dump, pg_restore, psql) able to talk to a server of ``server_major``.

    pg_dump refuses servers newer than itself, so prefer the same major, else the newest.
    """
    dirs = installed_bindirs()
    order = sorted(dirs, reverse=True)
    if server_major in dirs:
        order.remove(server_major)
        order.insert(0, server_major)
    for major in order:
        if server_major is not None and major < server_major:
            continue
        exe = dirs[major] / name
        if exe.exists():
            return str(exe)
    exe = shutil.which(name)
    if exe:
        return exe
    raise InfrastructureError(f"the PostgreSQL client program {name} was not found",
                              hint="install the PostgreSQL client (apt-get install postgresql-client)")
