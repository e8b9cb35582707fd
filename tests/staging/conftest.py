"""Staging test fixtures: an isolated cache (registry, initdb copy, templates) for this session."""

from __future__ import annotations

import pytest

from rehearse import model


@pytest.fixture(scope="session")
def _staging_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("rehearse-cache")


@pytest.fixture(autouse=True)
def staging_cache(_staging_cache, monkeypatch):
    monkeypatch.setenv("REHEARSE_CACHE_DIR", str(_staging_cache))
    return _staging_cache


@pytest.fixture()
def source_info() -> model.SourceInfo:
    """A production description with settings, extensions and roles that differ from defaults."""
    return model.SourceInfo(
        url="postgresql://postgres@prod.example/app", database="app", server_version="15.4",
        server_version_num=150004,
        settings={"work_mem": "7MB", "TimeZone": "Asia/Tokyo", "lock_timeout": "3s",
                  "statement_timeout": "0", "maintenance_work_mem": "96MB",
                  "max_parallel_maintenance_workers": "1", "shared_buffers": "8GB", "fsync": "on"},
        extensions=("pg_trgm", "hstore", "plpgsql"), roles=("app_owner", "app_reader"),
    )


SERVER_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_execute(query: str, params=None, dsn: str = SERVER_DSN):
    """Run one statement on the 5432 server outside a transaction (CREATE/DROP DATABASE)."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


@pytest.fixture()
def foreign_db():
    """A database on the 5432 server that rehearse did not create; yields (name, dsn)."""
    import uuid

    name = f"rh_foreign_{uuid.uuid4().hex[:10]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield name, f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
