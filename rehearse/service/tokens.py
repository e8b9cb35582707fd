"""`rehearse token create`: issue a token straight into the service database (the bootstrap path)."""

from __future__ import annotations

from pathlib import Path

from . import store


def create_token(db_url: str | None, *, role: str, name: str, data_dir: Path | None = None) -> str:
    cluster = None
    if db_url is None:
        from .embedded import EmbeddedCluster
        cluster = EmbeddedCluster(data_dir)
        db_url = cluster.start()  # stopped again below only if it was not already running
    try:
        store.migrate(db_url)
        eng = store.engine(db_url, pool_size=1)
        with eng.begin() as conn:
            token = store.create_token(conn, name, role)
        eng.dispose()
        return token
    finally:
        if cluster is not None:
            cluster.stop()
