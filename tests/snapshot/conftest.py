"""Fixtures for the snapshot and anonymization tests: a small shop with planted personal data."""

from __future__ import annotations

import uuid

import pytest

from rehearse.model import StagingDatabase
from snapshot_shop import POLICY_YAML, admin as _admin, fill_shop

@pytest.fixture(scope="session", autouse=True)
def _pool_cache(tmp_path_factory):
    """Faker pools are cached per secret; keep that cache inside the test run."""
    import os

    old = os.environ.get("REHEARSE_CACHE_DIR")
    os.environ["REHEARSE_CACHE_DIR"] = str(tmp_path_factory.mktemp("pools"))
    yield
    if old is None:
        os.environ.pop("REHEARSE_CACHE_DIR", None)
    else:
        os.environ["REHEARSE_CACHE_DIR"] = old


@pytest.fixture()
def shop(source_db):
    name, url, dsn = source_db
    fill_shop(dsn)
    return name, url, dsn


@pytest.fixture()
def policy_file(tmp_path):
    path = tmp_path / "rehearse.yaml"
    path.write_text(POLICY_YAML)
    return path


@pytest.fixture()
def make_staging():
    """Fresh empty databases on the 5432 server, as restore targets; dropped afterwards."""
    made: list[str] = []

    def make() -> StagingDatabase:
        name = f"rh_stg_{uuid.uuid4().hex[:10]}"
        conn = _admin()
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        made.append(name)
        return StagingDatabase(kind="server", url=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}",
                               dsn=f"host=127.0.0.1 port=5432 user=postgres dbname={name}", database=name,
                               server_version="15", server_version_num=150000, run_id="t")

    yield make
    conn = _admin()
    try:
        for name in made:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
