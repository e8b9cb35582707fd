"""What every staging backend shares: names, the ownership marker, connections, ports, versions.

Backends import this module (and :mod:`.interface`), never each other, in the way Alembic's
dialect implementations share ``ddl/impl.py``. Nothing here knows which backend runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from contextlib import contextmanager
from typing import Iterator

import psycopg2

from .. import model
from . import registry

MARKER_PREFIX = "rehearse:"


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
    """The comment a staging database carries so rehearse only ever changes its own databases."""
    return f"{MARKER_PREFIX}{run_id}:{os.getpid()}:{registry.hostname()}"


def database_name(source: model.SourceInfo | None) -> str:
    """Staging uses production's database name (some migrations mention it), when it is usable."""
    name = source.database if source else ""
    if not name or name in ("template0", "template1") or len(name.encode()) > 63 or "\x00" in name:
        return "rehearse"
    return name


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- talking to the staging server ------------------------------------------------------------


@contextmanager
def connect(dsn: str) -> Iterator["psycopg2.extensions.connection"]:
    """An autocommit connection that is closed afterwards (psycopg2's own ``with`` does not close)."""
    conn = psycopg2.connect(dsn, connect_timeout=10)
    try:
        conn.autocommit = True
        yield conn
    finally:
        conn.close()


def server_version(dsn: str) -> tuple[str, int]:
    with connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), current_setting('server_version_num')::int")
        text, num = cur.fetchone()
    return text.split()[0], num


def version_warning(source: model.SourceInfo | None, version: str, version_num: int, where: str) -> str | None:
    if source is None or source.server_version_num // 10000 == version_num // 10000:
        return None
    return (f"production runs PostgreSQL {source.server_version} but {where} runs {version}; "
            f"locks, rewrites and timings may differ from what production will do")


def pgerr(exc: BaseException) -> str:
    """A PostgreSQL error as one line, without the ``ERROR:`` prefix."""
    text = getattr(exc, "pgerror", None) or str(exc)
    return " ".join(text.split()).removeprefix("ERROR: ").strip()
