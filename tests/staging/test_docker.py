"""The docker backend: a labelled container on 127.0.0.1 that is always removed."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import psycopg2
import pytest

from rehearse import errors
from rehearse.staging import assert_owned, gc, open_staging
from rehearse.staging.container import LABEL_RUN, client, docker_host

REPO = Path(__file__).resolve().parents[2]


def _ready_engine():
    """A client of an engine that has a rehearse-postgres image, else the reason there is none."""
    from rehearse.staging.container import IMAGE_REPO

    try:
        cli = client()
    except errors.DockerUnavailable as exc:
        return None, exc.one_line()
    if not cli.images.list(name=IMAGE_REPO):
        # an engine another run started may still be building it (docker-up.sh is idempotent)
        cli.close()
        return None, f"the engine has no {IMAGE_REPO} image yet"
    return cli, ""


@pytest.fixture(scope="module")
def engine():
    """A reachable engine with the image: the one running, else what scripts/docker-up.sh makes; skip if neither."""
    cli, first = _ready_engine()
    if cli is not None:
        return cli
    out = subprocess.run(["bash", str(REPO / "scripts" / "docker-up.sh")], capture_output=True, text=True,
                         timeout=900)
    cli, _ = _ready_engine()
    if cli is None:
        pytest.skip(f"no Docker engine with the image can be started here: {first}; docker-up.sh said: "
                    f"{(out.stderr or out.stdout).strip()[-300:]}")
    return cli


def _containers(cli, run_id: str):
    return cli.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"})


def test_container_starts_reachable_same_outcome_and_is_removed(engine, source_info):
    run_id = "t" + uuid.uuid4().hex[:10]
    with open_staging("docker", run_id=run_id, source=source_info) as db:
        assert db.kind == "docker"
        assert "@127.0.0.1:" in db.url and db.url.startswith("postgresql+psycopg2://")
        assert db.major == source_info.major
        assert len(_containers(engine, run_id)) == 1
        assert_owned(db)
        conn = psycopg2.connect(db.dsn)
        with conn.cursor() as cur:
            cur.execute("SHOW work_mem")
            assert cur.fetchone()[0] == "7MB"
            cur.execute("SHOW TimeZone")
            assert cur.fetchone()[0] == "Asia/Tokyo"
            cur.execute("SELECT extname FROM pg_extension")
            assert {"pg_trgm", "hstore"} <= {r[0] for r in cur.fetchall()}
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname = 'app_owner'")
            assert cur.fetchone()
            cur.execute("SHOW listen_addresses")
            assert cur.fetchone()[0] == "127.0.0.1"
        conn.close()
    assert not _containers(engine, run_id)


def test_container_removed_on_exception(engine):
    run_id = "t" + uuid.uuid4().hex[:10]
    with pytest.raises(KeyError):
        with open_staging("docker", run_id=run_id):
            assert _containers(engine, run_id)
            raise KeyError("boom")
    assert not _containers(engine, run_id)


def test_missing_image_is_bad_input(engine):
    with pytest.raises(errors.BadInput):
        with open_staging("docker", run_id="t" + uuid.uuid4().hex[:10], image="rehearse-no-such-image:1"):
            pass


def test_no_engine_is_docker_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(errors.DockerUnavailable) as info:
        with open_staging("docker", run_id="t" + uuid.uuid4().hex[:10]):
            pass
    assert info.value.exit_code == 2
    assert "\n" not in info.value.one_line()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_run_leaves_no_container(engine, sig, monkeypatch):
    from .test_teardown import _start_child

    monkeypatch.setenv("DOCKER_HOST", os.environ.get("DOCKER_HOST") or docker_host())  # the child's engine
    child, run_id, info = _start_child("docker", "ready")
    assert _containers(engine, run_id)
    child.send_signal(sig)
    child.wait(timeout=60)
    if sig == signal.SIGKILL:
        assert _containers(engine, run_id), "SIGKILL cannot be caught: the container waits for gc"
        removed = gc.collect(quiet=True)
        assert any(run_id in line for line in removed), removed
    assert not _containers(engine, run_id)


def test_docker_reuse_starts_from_committed_template(engine):
    from rehearse.staging.container import TEMPLATE_REPO

    key = uuid.uuid4().hex
    calls = []

    def populate(db):
        calls.append(1)
        conn = psycopg2.connect(db.dsn)
        conn.autocommit = True
        conn.cursor().execute("CREATE TABLE items AS SELECT generate_series(1, 400) AS id")
        conn.close()

    try:
        with open_staging("docker", run_id="t" + uuid.uuid4().hex[:10], populate=populate, reuse_key=key) as a:
            assert not a.from_template
        with open_staging("docker", run_id="t" + uuid.uuid4().hex[:10], populate=populate, reuse_key=key) as b:
            assert b.from_template
            assert_owned(b)
            conn = psycopg2.connect(b.dsn)
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM items")
                assert cur.fetchone()[0] == 400
            conn.close()
        assert calls == [1]
    finally:
        for img in engine.images.list(name=TEMPLATE_REPO):
            if any(key[:24] in t for t in img.tags):
                for t in img.tags:
                    engine.images.remove(t, force=True)
