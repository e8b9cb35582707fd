"""Connecting to the source read only: one REPEATABLE READ READ ONLY session, or one joining an exported snapshot.

Shared by the pull and the scan (both only read production); the password never enters a DSN
that could be printed, and connection errors say what to check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from . import urls
from .errors import SourceUnreachable


@dataclass(frozen=True)
class SourceConnection:
    """How to reach the source read only: libpq DSN, password kept apart, and a URL safe to print."""

    dsn: str  # without the password
    password: str | None
    redacted: str

    def connect(self, *, readonly_snapshot: str | None = None):
        try:
            conn = psycopg2.connect(self.dsn, password=self.password, application_name="rehearse-snapshot") \
                if self.password else psycopg2.connect(self.dsn, application_name="rehearse-snapshot")
        except psycopg2.OperationalError as exc:
            reason = " ".join(str(exc).strip().splitlines()[:1]) or "connection refused"
            raise SourceUnreachable(f"cannot connect to the source {self.redacted}: {reason}",
                                    hint="check host, port, database and credentials, and that the server "
                                         "accepts connections from here") from None
        conn.set_client_encoding("UTF8")
        conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        if readonly_snapshot:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION SNAPSHOT %s", (readonly_snapshot,))
                cur.execute("SET LOCAL statement_timeout = 0")
        return conn

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def source_connection(source_url: str) -> SourceConnection:
    if "://" not in source_url:  # a libpq DSN
        return SourceConnection(source_url, None, urls.redact(source_url))
    parsed = urls.parse(source_url)
    password = parsed.password
    return SourceConnection(urls.libpq_dsn(parsed.set(password=None)), str(password) if password else None,
                 urls.redact(source_url))
