"""Checkpoints: put the staging database back at a state the history knows after a failed step.

A downgrade that failed half-way, or left residue the next step trips over, leaves the database
in a state no revision describes. Rehearsing the other revisions on it would turn one
revision's failure into theirs. ``Checkpoints.reset`` replaces the staging database with a copy
of the restored snapshot (kept, on first need, in a second database of the same server, as
``<name>_pristine``); the caller then upgrades it to the revision it needs.

The copy is made with ``CREATE DATABASE ... TEMPLATE`` under the same name, so the URL, the
ownership mark (the database comment) and the per-database settings stay as staging set them.
Nothing is copied until a step fails: a rehearsal without failures pays nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from ..errors import StagingError
from ..model import Snapshot, StagingDatabase
from ..urls import with_database


class Checkpoints:
    """Resets of one staging database to its restored starting point."""

    def __init__(self, db: StagingDatabase, snapshot: Snapshot | None,
                 restore: Callable[[Snapshot, StagingDatabase], None] | None) -> None:
        self.db, self.snapshot, self.restore = db, snapshot, restore
        self.pristine: str | None = None
        self.resets = 0

    @property
    def available(self) -> bool:
        return self.snapshot is not None and self.restore is not None

    def _admin(self):
        for maintenance in ("postgres", "template1"):
            try:
                conn = psycopg2.connect(make_dsn(self.db.dsn, dbname=maintenance))
                conn.autocommit = True
                return conn
            except psycopg2.OperationalError:
                continue
        raise StagingError(f"cannot reach a maintenance database next to {self.db.database} to reset it",
                           hint="the staging role needs CREATEDB and access to the postgres database")

    def _make_pristine(self, cur) -> None:
        name = f"{self.db.database}_pristine"[:63]
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name)))
        self._copy_marks(cur, self.db.database, name)
        twin = dataclasses.replace(self.db, database=name, dsn=make_dsn(self.db.dsn, dbname=name),
                                   url=with_database(self.db.url, name))
        assert self.restore is not None and self.snapshot is not None
        self.restore(self.snapshot, twin)
        self.pristine = name

    def reset(self) -> None:
        """Replace the staging database by the restored snapshot (no revision applied after it)."""
        if not self.available:
            raise StagingError("cannot reset the staging database: no snapshot to restore from")
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                if self.pristine is None:
                    self._make_pristine(cur)
                name = self.db.database
                old = f"{name}_failed"[:63]
                _terminate(cur, name)
                _terminate(cur, self.pristine)
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(old)))
                cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(old)))
                cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                             sql.Identifier(self.pristine)))
                self._copy_marks(cur, old, name)
                cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(old)))
        except psycopg2.Error as exc:
            raise StagingError(f"could not reset staging database {self.db.database}: "
                               f"{str(exc).strip().splitlines()[0]}") from None
        finally:
            conn.close()
        self.resets += 1

    def close(self) -> None:
        """Drop the pristine copy (the staging database itself is staging's to drop)."""
        if self.pristine is None:
            return
        try:
            conn = self._admin()
        except StagingError:
            return
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.pristine)))
        except psycopg2.Error:
            pass
        finally:
            conn.close()
        self.pristine = None

    @staticmethod
    def _copy_marks(cur, source: str, target: str) -> None:
        """The comment (staging's ownership mark) and per-database settings of ``source``."""
        cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (source,))
        row = cur.fetchone()
        if row and row[0]:
            cur.execute(sql.SQL("COMMENT ON DATABASE {} IS %s").format(sql.Identifier(target)), (row[0],))
        cur.execute("SELECT unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                    "WHERE d.datname = %s AND s.setrole = 0", (source,))
        for (item,) in cur.fetchall():
            key, _, value = item.partition("=")
            if key.lower() in _LIST_SETTINGS:  # stored in list syntax already: '"$user", public'
                cur.execute(sql.SQL("ALTER DATABASE {} SET {} = " + value).format(sql.Identifier(target),
                                                                                 sql.Identifier(key)))
            else:
                cur.execute(sql.SQL("ALTER DATABASE {} SET {} = %s").format(sql.Identifier(target),
                                                                            sql.Identifier(key)), (value,))


_LIST_SETTINGS = {"search_path", "datestyle", "temp_tablespaces"}


def _terminate(cur, database: str) -> None:
    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,))

