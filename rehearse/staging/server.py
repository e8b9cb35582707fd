"""The server backend: a scratch database ``rehearse_<run_id>`` on a PostgreSQL server you name.

rehearse never migrates a database it did not create: the scratch database carries a
marker comment (``rehearse:<run_id>:<pid>:<host>``) checked by :func:`assert_owned`, and
is dropped WITH (FORCE) at the end. ``--reuse`` keeps a populated template database
``rehearse_tpl_<key>`` on that server and clones it with CREATE DATABASE ... TEMPLATE.
Roles production has and the server lacks are created NOLOGIN and dropped afterwards
when nothing else uses them. Settings are copied per database only (the server is shared).
"""

from __future__ import annotations

import os
import time

import psycopg2
from psycopg2 import sql

from .. import errors, model, urls
from . import registry
from .common import MARKER_PREFIX, connect, marker, pgerr, server_version, version_warning
from .interface import BackendRequest, register_backend, register_resource

KEEP_TEMPLATES = int(os.environ.get("REHEARSE_KEEP_TEMPLATES", "3"))


class ServerBackend:
    kind = "server"

    def __init__(self, run: registry.RunRecord, source: model.SourceInfo | None, spec: str) -> None:
        self.run = run
        self.source = source
        self.admin_url = _maintenance_url(spec)
        self.maint_dsn = urls.libpq_dsn(self.admin_url)
        self.database = f"rehearse_{run.run_id}"[:63]
        self.entry: dict | None = None
        self.role_entries: list[dict] = []
        self.warnings: list[str] = []
        try:
            self.version, self.version_num = server_version(self.maint_dsn)
        except psycopg2.Error as exc:
            raise errors.StagingError(
                f"the staging server {urls.redact(spec)} cannot be reached: {pgerr(exc)}",
                hint="check the URL and that the server accepts connections from here") from None

    def _template_name(self, template: str) -> str:
        return f"rehearse_tpl_{template}"[:63]

    def start(self, template: str | None) -> model.StagingDatabase:
        from_template = False
        self.entry = self.run.add("server-db", admin_url=urls.sqlalchemy_url(self.admin_url),
                                  database=self.database)
        with connect(self.maint_dsn) as conn, conn.cursor() as cur:
            create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database))
            tpl = self._template_name(template) if template else None
            if tpl:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s AND shobj_description(oid, "
                            "'pg_database') LIKE 'rehearse-template:%%'", (tpl,))
                if cur.fetchone():
                    try:
                        cur.execute(create + sql.SQL(" TEMPLATE {}").format(sql.Identifier(tpl)))
                        from_template = True
                        _stamp_template(cur, tpl, template)  # most recently used survive pruning
                    except psycopg2.Error as exc:  # e.g. someone is connected to the template
                        self.warnings.append(f"template {tpl} could not be cloned ({pgerr(exc)}); restoring instead")
            if not from_template:
                try:
                    cur.execute(create + sql.SQL(" TEMPLATE template0 ENCODING 'UTF8'"))
                except psycopg2.Error as exc:
                    raise errors.StagingError(
                        f"rehearse could not create its scratch database {self.database} on the staging server: "
                        f"{pgerr(exc)}", hint="the user in the --staging URL needs CREATEDB") from None
            cur.execute(sql.SQL("COMMENT ON DATABASE {} IS %s").format(sql.Identifier(self.database)),
                        (marker(self.run.run_id),))
        warning = version_warning(self.source, self.version, self.version_num, "the staging server")
        if warning:
            self.warnings.append(warning)
        return model.StagingDatabase(
            kind="server", url=self.url(), dsn=self.admin_dsn(), database=self.database,
            server_version=self.version, server_version_num=self.version_num, run_id=self.run.run_id,
            connect_hint=self.hint(), warnings=tuple(self.warnings), from_template=from_template,
        )

    def roles_created(self, roles: list[str]) -> None:
        for role in roles:
            self.role_entries.append(self.run.add("server-role", admin_url=urls.sqlalchemy_url(self.admin_url),
                                                  role=role))

    def save_template(self, template: str) -> None:
        tpl = self._template_name(template)
        with connect(self.maint_dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (tpl,))
            if cur.fetchone():
                return
            # CREATE DATABASE ... TEMPLATE needs the source to have no other sessions
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (self.database,))
            try:
                cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(tpl), sql.Identifier(self.database)))
                _stamp_template(cur, tpl, template)
            except psycopg2.Error as exc:
                self.warnings.append(f"the restored database could not be kept as template {tpl}: {pgerr(exc)}")
                return
            prune_templates(cur, KEEP_TEMPLATES)

    def admin_dsn(self) -> str:
        return urls.libpq_dsn(self.admin_url.set(database=self.database))

    def url(self) -> str:
        return urls.with_database(self.admin_url, self.database)

    def hint(self) -> str:
        return (f'psql "{urls.redact(self.admin_dsn())}"  (drop it with: rehearse gc --kept, '
                f'or DROP DATABASE "{self.database}" WITH (FORCE))')

    def keep(self) -> str:
        return self.hint()

    def close(self) -> None:
        if self.entry is not None:
            drop_database(self.maint_dsn, self.database)
            self.run.drop(self.entry)
            self.entry = None
        for entry in self.role_entries:
            drop_role(self.maint_dsn, entry["role"])
            self.run.drop(entry)
        self.role_entries = []


def _stamp_template(cur, tpl: str, template: str) -> None:
    cur.execute(sql.SQL("COMMENT ON DATABASE {} IS %s").format(sql.Identifier(tpl)),
                (f"rehearse-template:{template}:{int(time.time())}",))


def prune_templates(cur, keep: int) -> list[str]:
    """Drop all but the ``keep`` most recently used template databases rehearse made on this server."""
    cur.execute("SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE shobj_description(oid, 'pg_database') LIKE 'rehearse-template:%%'")
    stamped = []
    for name, comment in cur.fetchall():
        tail = comment.rsplit(":", 1)[-1]
        stamped.append((int(tail) if tail.isdigit() else 0, name))
    dropped = []
    for _, name in sorted(stamped, reverse=True)[keep:]:
        try:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            dropped.append(name)
        except psycopg2.Error:
            pass  # in use by a run cloning it right now: next time
    return dropped


def _maintenance_url(spec: str):
    """The --staging URL, pointing at ``postgres`` when it names no database."""
    from sqlalchemy.engine import make_url

    try:
        if not make_url(spec.strip()).database:
            spec = spec.strip().rstrip("/") + "/postgres"
    except Exception:
        pass  # urls.parse explains what is wrong
    return urls.parse(spec)


def drop_database(maint_dsn: str, database: str) -> None:
    """Drop a scratch database, but only one that carries a rehearse marker."""
    with connect(maint_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                    (database,))
        row = cur.fetchone()
        if row is None:
            return
        if row[0] is not None and not row[0].startswith(MARKER_PREFIX):
            return  # not ours (never drop what rehearse did not create)
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def drop_role(maint_dsn: str, role: str) -> None:
    """Drop a role rehearse created, unless something still depends on it (another run's database)."""
    try:
        with connect(maint_dsn) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    except psycopg2.Error:
        pass


def _create(request: BackendRequest) -> ServerBackend:
    return ServerBackend(request.run, request.source, request.spec)


def _remove_recorded(res: dict) -> str:
    dsn = urls.libpq_dsn(res["admin_url"])
    if res["kind"] == "server-db":
        drop_database(dsn, res["database"])
        # what the rehearsal's checkpoints made beside it (rehearse.pipeline.checkpoint)
        for sibling in ("_pristine", "_failed"):
            drop_database(dsn, (res["database"] + sibling)[:63])
        return f"dropped scratch database {res['database']}"
    drop_role(dsn, res["role"])
    return ""


register_backend("server", accepts=lambda spec: "://" in spec, create=_create)
register_resource("server-db", _remove_recorded)
register_resource("server-role", _remove_recorded)
