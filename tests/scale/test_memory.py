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
