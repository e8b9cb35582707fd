"""A --scale subset's server gets the full size's memory times the fraction, so a subset's tables
stand to shared_buffers (and its index sorts to maintenance_work_mem) as the full size's do."""

from __future__ import annotations

import uuid

import psycopg2

from rehearse.pipeline.scale import _scale_memory, read_memory, subset_memory
from rehearse.staging import open_staging


def test_memory_is_scaled_with_the_fraction_down_to_the_servers_floors():
    full = {"shared_buffers": 262144, "maintenance_work_mem": 65536}
    assert subset_memory(full, 0.3) == {"shared_buffers": "78643kB", "maintenance_work_mem": "19660kB"}
    assert subset_memory(full, 0.001) == {"shared_buffers": "2048kB", "maintenance_work_mem": "1024kB"}


def test_a_local_subset_cluster_runs_with_the_scaled_memory():
    scaled = subset_memory({"shared_buffers": 262144, "maintenance_work_mem": 65536}, 0.05)
    with open_staging("local", run_id="scale-mem-" + uuid.uuid4().hex[:8],
                      server_settings={"shared_buffers": scaled["shared_buffers"]}) as db:
        assert _scale_memory(db, scaled, "5%") == []  # no warning: shared_buffers took
        conn = psycopg2.connect(db.dsn)  # a new session sees the database's maintenance_work_mem
        try:
            with conn.cursor() as cur:
                assert read_memory(cur) == {"shared_buffers": 13104, "maintenance_work_mem": 3276}
        finally:
            conn.close()


def test_a_server_that_keeps_its_shared_buffers_is_warned_about():
    scaled = {"shared_buffers": "2048kB", "maintenance_work_mem": "1024kB"}
    with open_staging("local", run_id="scale-mem-" + uuid.uuid4().hex[:8]) as db:  # started with 256 MB
        [warning] = _scale_memory(db, scaled, "1%")
    assert "shared_buffers stays 256 MB" in warning and "look cheaper" in warning


def test_a_subset_runs_with_productions_settings_not_the_samplers(tmp_path):
    # the subset is pulled from the sampler, which rehearse gave a 512 MB work_mem for the subset
    # queries: its staging must copy production's settings (the snapshot's source), not those
    import dataclasses

    from rehearse.model import Snapshot, SourceInfo
    from rehearse.pipeline.scale import subset_source

    production = SourceInfo(url="postgresql://prod/shop", database="shop", server_version="15.4",
                            server_version_num=150004, settings={"work_mem": "4MB", "maintenance_work_mem": "64MB"})
    sampler = dataclasses.replace(production, url="postgresql://local/sampler", database="sampler",
                                  settings={"work_mem": "512MB", "maintenance_work_mem": "64MB"},
                                  alembic_revisions=("0002",))
    snapshot = Snapshot(path=tmp_path / "full", source=production, tables=(), created_at="", checksum="a")
    subset = Snapshot(path=tmp_path / "sub", source=sampler, tables=(), created_at="", checksum="b")
    source = subset_source(subset, snapshot)
    assert source.settings == {"work_mem": "4MB", "maintenance_work_mem": "64MB"}
    assert source.alembic_revisions == ("0002",) and source.database == "sampler"  # the rest is the subset's
