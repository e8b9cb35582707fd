"""Fixtures of the rollback tests: an autocommit psycopg2 connection to a fresh source database."""

from __future__ import annotations

import uuid

import psycopg2
import pytest

def _admin_execute(statement: str) -> None:
    # not `with psycopg2.connect(...)`: psycopg2 2.9 opens a transaction there, even in autocommit
    admin = psycopg2.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(statement)
    finally:
        admin.close()


@pytest.fixture()
def conn(source_db):
    _, _, dsn = source_db
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture()
def run(conn):
    def execute(statements: str) -> None:
        with conn.cursor() as cur:
            cur.execute(statements)
    return execute


@pytest.fixture(scope="module")
def module_conn():
    """One database for a whole module, for tests that undo their change with ROLLBACK."""
    name = f"rh_rb_{uuid.uuid4().hex[:10]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    connection = psycopg2.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}")
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
