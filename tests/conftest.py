"""Shared fixtures: the real PostgreSQL server on 127.0.0.1:5432 plays "production".

Each test that needs a source gets its own scratch database there, dropped afterwards.
Nothing here mocks PostgreSQL, Alembic or a container engine.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import psycopg2
import pytest

# Started in the background by a non-interactive shell (`cmd &`), pytest inherits SIGINT ignored,
# and so would every rehearse it starts (Python keeps an inherited SIG_IGN): the tests that press
# Ctrl-C would then wait for nothing. A handler here is reset to the default in every child, as in a
# terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


REPO = Path(__file__).resolve().parent.parent
SERVER_DSN = os.environ.get("REHEARSE_TEST_SERVER", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
SERVER_URL = os.environ.get("REHEARSE_TEST_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin():
    conn = psycopg2.connect(SERVER_DSN)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def server_url() -> str:
    return SERVER_URL


@pytest.fixture()
def source_db():
    """A fresh, empty database on the 5432 server; yields (name, sqlalchemy-style URL, dsn)."""
    name = f"rh_src_{uuid.uuid4().hex[:10]}"
    conn = _admin()  # not `with conn:`: psycopg2 would open a transaction CREATE DATABASE refuses
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
    try:
        yield name, url, dsn
    finally:
        conn = _admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("REHEARSE_SECRET", os.environ.get("REHEARSE_SECRET", "test-secret-not-for-production"))
