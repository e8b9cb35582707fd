"""The staging interface: start a throwaway database, populate or clone it, always tear it down.

Backends (``local.py``, ``container.py``, ``server.py``) share one small protocol; this
module owns what they have in common: choosing a backend from ``--staging``, the reuse
logic (start from a template, else populate and keep the result as one), copying the
source's roles/extensions/settings, the ownership marker, and teardown that also runs on
Ctrl-C and SIGTERM (:func:`install_signal_handlers`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Protocol

import psycopg2
from psycopg2 import sql

from .. import errors, model
from . import registry

log = logging.getLogger("rehearse.staging")

MARKER_PREFIX = "rehearse:"


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) arrived; raised so the pipeline unwinds and tears staging down.

    A BaseException, like KeyboardInterrupt, so ``except Exception`` does not swallow it.
    The CLI should exit with ``128 + signum``.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signal.Signals(signum).name}")
        self.signum = signum


class NotOwnedDatabase(errors.BadInput):
    """The database rehearse was about to change is not one it created itself."""


_HANDLER_PID: int | None = None


def _raise_terminated(signum, _frame) -> None:
    if os.getpid() != _HANDLER_PID:
        # a forked worker (e.g. a snapshot reader) inherited the handler: die the default way
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` (SIGINT already raises KeyboardInterrupt)."""
    global _HANDLER_PID
    _HANDLER_PID = os.getpid()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_terminated)


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Within staging, SIGTERM unwinds even when the caller installed no handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _HANDLER_PID
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_DFL, None):
        _HANDLER_PID = os.getpid()
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM while tearing down, so a second signal cannot leave half a cleanup."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# --- names --------------------------------------------------------------------------------


def safe_run_id(run_id: str) -> str:
    """A run id usable in database, directory and container names."""
    text = re.sub(r"[^a-z0-9_]", "_", run_id.lower()).strip("_")
    return (text or hashlib.sha256(run_id.encode()).hexdigest())[:40]


def template_key(reuse_key: str) -> str:
    """A short identifier for a reuse key (a snapshot checksum, usually hex already)."""
    if re.fullmatch(r"[0-9a-f]{16,}", reuse_key.lower()):
        return reuse_key.lower()[:32]
    return hashlib.sha256(reuse_key.encode()).hexdigest()[:32]


def marker(run_id: str) -> str:
    return f"{MARKER_PREFIX}{run_id}:{os.getpid()}:{registry.hostname()}"


# --- the backend protocol -------------------------------------------------------------------


class Backend(Protocol):
    kind: str

    def start(self, template: str | None) -> model.StagingDatabase:
        """Start the server and hand back an empty database (or a clone of ``template``)."""

    def admin_dsn(self) -> str:
        """A libpq DSN for a superuser-ish connection to the staging database itself."""

    def save_template(self, template: str) -> None:
        """Keep the populated database as ``template`` for the next run with the same key."""

    def close(self) -> None:
        """Remove everything this backend created (idempotent)."""

    def keep(self) -> str:
        """Leave it running for a person; returns how to connect and how to remove it."""


def backend_for(spec: str, run: registry.RunRecord, source: model.SourceInfo | None,
                image: str | None, expected_bytes: int | None = None) -> Backend:
    spec = (spec or "local").strip()
    if spec == "local":
        from .local import LocalBackend, has_server_binaries

        if has_server_binaries():
            return LocalBackend(run, source, expected_bytes=expected_bytes)
        from .embedded import EmbeddedBackend

        return EmbeddedBackend(run, source, expected_bytes=expected_bytes)
    if spec == "docker":
        from .container import DockerBackend

        return DockerBackend(run, source, image=image)
    if "://" in spec:
        from .server import ServerBackend

        return ServerBackend(run, source, spec)
    raise errors.BadInput(f"--staging '{spec}' is not a staging backend",
                          hint="use local, docker or a postgresql://USER@HOST/DB server URL")


# --- the entry point --------------------------------------------------------------------------


@contextmanager
def open_staging(spec: str = "local", *, run_id: str, source: model.SourceInfo | None = None,
                 keep: bool = False, image: str | None = None, reuse_key: str | None = None,
                 populate: Callable[[model.StagingDatabase], None] | None = None,
                 expected_bytes: int | None = None,
                 ) -> Iterator[model.StagingDatabase]:
    """Yield a ready staging database; remove it afterwards unless ``keep``.

    With ``reuse_key`` naming a kept template, the database starts as a copy of it
    (``from_template=True``) and ``populate`` is not called; otherwise ``populate(db)``
    fills it and, with a ``reuse_key``, the result is kept as a template for next time.
    Teardown runs on success, exceptions, Ctrl-C and SIGTERM; SIGKILL leaves a registry
    record that ``rehearse gc`` (and the next run) removes. ``expected_bytes`` (the size the
    restore will occupy, roughly) lets the local backend run in memory when that is safe.
    """
    from . import gc

    try:
        gc.collect(quiet=True, docker=False)
    except Exception as exc:  # a broken leftover must not stop a new run
        log.debug("quick gc failed: %s", exc)
    run_id = safe_run_id(run_id)
    with _sigterm_unwinds():
        run = registry.RunRecord(run_id)
        backend: Backend | None = None
        kept = False
        try:
            backend = backend_for(spec, run, source, image, expected_bytes)
            key = template_key(reuse_key) if reuse_key else None
            db = backend.start(key)
            db = prepare(db, backend, source)
            if not db.from_template:
                if populate is not None:
                    populate(db)
                if key:
                    backend.save_template(key)
            db = _finish(db, backend, source)
            try:
                yield db
            finally:
                if keep:
                    hint = backend.keep()
                    db = dataclasses.replace(db, connect_hint=hint)
                    run.mark_kept(hint)
                    kept = True
                    log.info("staging kept: %s", hint)
        finally:
            if not kept:
                with _signals_deferred():
                    try:
                        if backend is not None:
                            backend.close()
                    except Exception as exc:  # keep the record: the next gc tries again
                        log.warning("staging teardown failed (rehearse gc will retry): %s", exc)
                        print(f"rehearse: staging teardown failed ({exc}); run `rehearse gc` to retry",
                              file=sys.stderr)
                    else:
                        run.close()


# --- what every backend does to a fresh database -----------------------------------------------


@contextmanager
def connect(dsn: str) -> Iterator["psycopg2.extensions.connection"]:
    """An autocommit connection that is closed afterwards (psycopg2's own ``with`` does not close)."""
    conn = psycopg2.connect(dsn, connect_timeout=10)
    try:
        conn.autocommit = True
        yield conn
    finally:
        conn.close()


_SKIP_ROLES = {"postgres", "public", "current_user", "session_user"}


def prepare(db: model.StagingDatabase, backend: Backend,
            source: model.SourceInfo | None) -> model.StagingDatabase:
    """Before populating: the ownership marker, the source's roles and extensions."""
    warnings = list(db.warnings)
    with connect(backend.admin_dsn()) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("COMMENT ON DATABASE {} IS %s").format(sql.Identifier(db.database)),
                    (marker(db.run_id),))
        if source is None:
            return db
        created_roles: list[str] = []
        for role in source.roles:
            if role.lower() in _SKIP_ROLES or role.startswith("pg_"):
                continue
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if cur.fetchone():
                continue
            try:
                cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
                created_roles.append(role)
            except psycopg2.Error as exc:
                warnings.append(f"role {role} could not be created in staging ({_pgerr(exc)}); "
                                f"objects it owns in production will be owned by the restoring user")
        if created_roles:
            getattr(backend, "roles_created", lambda roles: None)(created_roles)
        cur.execute("SELECT name FROM pg_available_extensions")
        available = {r[0] for r in cur.fetchall()}
        for ext in source.extensions:
            if ext == "plpgsql":
                continue
            if ext not in available:
                warnings.append(f"extension {ext} is installed in production but not available to "
                                f"staging PostgreSQL {db.server_version}; objects that use it will "
                                f"fail to restore (install it, or use --staging docker with an image that has it)")
                continue
            try:
                cur.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
            except psycopg2.Error as exc:
                warnings.append(f"extension {ext} could not be created in staging: {_pgerr(exc)}")
    return dataclasses.replace(db, warnings=tuple(dict.fromkeys(warnings)))


# Settings staging owns (throwaway durability, sockets) or that make no sense to copy.
_NOT_COPIED = {
    "fsync", "synchronous_commit", "full_page_writes", "wal_level", "max_wal_senders", "autovacuum",
    "shared_buffers", "max_wal_size", "listen_addresses", "port", "unix_socket_directories",
    "data_directory", "config_file", "hba_file", "ident_file", "external_pid_file", "archive_mode",
    "archive_command", "hot_standby", "primary_conninfo", "restore_command", "default_transaction_read_only",
    "transaction_read_only", "session_authorization", "role", "is_superuser", "application_name",
    "cluster_name", "log_directory", "log_filename", "logging_collector", "ssl", "ssl_cert_file",
    "ssl_key_file", "ssl_ca_file", "shared_preload_libraries", "transaction_isolation",
    "default_transaction_isolation", "in_hot_standby", "recovery_target", "max_replication_slots",
}


def apply_settings(db: model.StagingDatabase, admin_dsn: str, settings: dict[str, str], *,
                   system: bool) -> list[str]:
    """Copy production's settings: per database where PostgreSQL allows it, else the whole
    (throwaway) cluster when ``system``; returns warnings for what could not be copied."""
    warnings: list[str] = []
    if not settings:
        return warnings
    with connect(admin_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, context FROM pg_settings")
        contexts = {name: ctx for name, ctx in cur.fetchall()}
        reload = False
        for name, value in settings.items():
            lname = name.lower()
            ctx = contexts.get(lname) or contexts.get(name)
            if lname in _NOT_COPIED or ctx is None or ctx in ("internal", "postmaster", "backend",
                                                              "superuser-backend"):
                continue
            try:
                if lname == "search_path":
                    # a list setting: a quoted string would become one schema named '"$user", public'
                    if not re.fullmatch(r'[\w$", ]+', str(value)):
                        raise ValueError(f"unexpected search_path {value!r}")
                    cur.execute(sql.SQL("ALTER DATABASE {} SET search_path TO " + str(value)).format(
                        sql.Identifier(db.database)))
                elif ctx in ("user", "superuser"):
                    cur.execute(sql.SQL("ALTER DATABASE {} SET {} = %s").format(
                        sql.Identifier(db.database), sql.Identifier(lname)), (str(value),))
                elif system:  # sighup: cluster-wide, fine on a cluster that is ours alone
                    cur.execute(sql.SQL("ALTER SYSTEM SET {} = %s").format(sql.Identifier(lname)), (str(value),))
                    reload = True
            except psycopg2.Error as exc:
                warnings.append(f"setting {name}={value} from production could not be applied: {_pgerr(exc)}")
        if reload:
            cur.execute("SELECT pg_reload_conf()")
    return warnings


def _finish(db: model.StagingDatabase, backend: Backend, source: model.SourceInfo | None) -> model.StagingDatabase:
    warnings = list(db.warnings)
    if source is not None:
        # after populating: production's statement_timeout must not cut the restore short
        warnings += apply_settings(db, backend.admin_dsn(), dict(source.settings),
                                   system=backend.kind != "server")
    return dataclasses.replace(db, warnings=tuple(dict.fromkeys(warnings)))


def version_warning(source: model.SourceInfo | None, version: str, version_num: int, where: str) -> str | None:
    if source is None or source.server_version_num // 10000 == version_num // 10000:
        return None
    return (f"production runs PostgreSQL {source.server_version} but {where} runs {version}; "
            f"locks, rewrites and timings may differ from what production will do")


def server_version(dsn: str) -> tuple[str, int]:
    with connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), current_setting('server_version_num')::int")
        text, num = cur.fetchone()
    return text.split()[0], num


def assert_owned(db: model.StagingDatabase) -> None:
    """Refuse to go on unless ``db`` carries the marker this run set when it created it."""
    try:
        with connect(db.dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_database(), shobj_description(oid, 'pg_database') "
                        "FROM pg_database WHERE datname = current_database()")
            name, comment = cur.fetchone()
    except psycopg2.Error as exc:
        raise errors.StagingError(f"staging database {db.database} cannot be reached: {_pgerr(exc)}") from None
    expected = f"{MARKER_PREFIX}{db.run_id}:"
    if name != db.database or not (comment or "").startswith(expected):
        raise NotOwnedDatabase(
            f"database {name} was not created by this rehearse run, so rehearse will not migrate it",
            hint="rehearse only changes scratch databases it creates itself; point --staging at a server, not a database",
        )


def _pgerr(exc: BaseException) -> str:
    text = getattr(exc, "pgerror", None) or str(exc)
    return " ".join(text.split()).removeprefix("ERROR: ").strip()
