"""One staging session: pick a backend, prepare the database, populate or clone it, always tear it down.

:func:`open_staging` owns what every backend does the same way: the reuse logic (start from a
template, else populate and keep the result as one), copying the source's roles, extensions
and settings, the ownership marker (:func:`assert_owned`), and teardown that also runs on
Ctrl-C and SIGTERM. Backends are found through :mod:`.interface`, never imported here.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping

import psycopg2
from psycopg2 import sql

from .. import errors, model
from . import gc, registry
from .common import MARKER_PREFIX, connect, marker, pgerr, safe_run_id, template_key
from .interface import Backend, BackendRequest, backend_for
from .signals import signals_deferred, sigterm_unwinds

log = logging.getLogger("rehearse.staging")


class NotOwnedDatabase(errors.BadInput):
    """The database rehearse was about to change is not one it created itself."""


@contextmanager
def open_staging(spec: str = "local", *, run_id: str, source: model.SourceInfo | None = None,
                 keep: bool = False, image: str | None = None, reuse_key: str | None = None,
                 populate: Callable[[model.StagingDatabase], None] | None = None,
                 expected_bytes: int | None = None, bindir: str | None = None,
                 server_settings: Mapping[str, str] | None = None,
                 ) -> Iterator[model.StagingDatabase]:
    """Yield a ready staging database; remove it afterwards unless ``keep``.

    With ``reuse_key`` naming a kept template, the database starts as a copy of it
    (``from_template=True``) and ``populate`` is not called; otherwise ``populate(db)``
    fills it and, with a ``reuse_key``, the result is kept as a template for next time.
    Teardown runs on success, exceptions, Ctrl-C and SIGTERM; SIGKILL leaves a registry
    record that ``rehearse gc`` (and the next run) removes. ``expected_bytes`` (the size the
    restore will occupy, roughly) lets the local backend run in memory when that is safe.
    ``bindir`` makes a local cluster run that server (``--target-version``) instead of the source's.
    ``server_settings`` start a throwaway cluster (local, embedded) with those settings on top of
    its own (``--scale`` scales the memory of a subset's cluster); other backends ignore them.
    """
    try:
        gc.collect(quiet=True, docker=False)
    except Exception as exc:  # a broken leftover must not stop a new run
        log.debug("quick gc failed: %s", exc)
    run_id = safe_run_id(run_id)
    with sigterm_unwinds():
        run = registry.RunRecord(run_id)
        backend: Backend | None = None
        kept = False
        try:
            backend = backend_for(BackendRequest(spec, run, source, image, expected_bytes, bindir,
                                                     tuple((server_settings or {}).items())))
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
                with signals_deferred():
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
                warnings.append(f"role {role} could not be created in staging ({pgerr(exc)}); "
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
                warnings.append(f"extension {ext} could not be created in staging: {pgerr(exc)}")
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
                warnings.append(f"setting {name}={value} from production could not be applied: {pgerr(exc)}")
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


def assert_owned(db: model.StagingDatabase) -> None:
    """Refuse to go on unless ``db`` carries the marker this run set when it created it."""
    try:
        with connect(db.dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_database(), shobj_description(oid, 'pg_database') "
                        "FROM pg_database WHERE datname = current_database()")
            name, comment = cur.fetchone()
    except psycopg2.Error as exc:
        raise errors.StagingError(f"staging database {db.database} cannot be reached: {pgerr(exc)}") from None
    expected = f"{MARKER_PREFIX}{db.run_id}:"
    if name != db.database or not (comment or "").startswith(expected):
        raise NotOwnedDatabase(
            f"database {name} was not created by this rehearse run, so rehearse will not migrate it",
            hint="rehearse only changes scratch databases it creates itself; point --staging at a server, not a database",
        )
