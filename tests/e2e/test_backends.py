"""The same rehearsal of the demo history on every staging backend gives the same verdicts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rehearse import errors

from .conftest import REPO, read_report, rehearse

sys.path.insert(0, str(REPO / "migrations"))


@pytest.fixture(scope="module")
def demo_snapshot(tmp_path_factory):
    """A small demo shop at its first revision on the 5432 server, snapshotted once."""
    import uuid

    import psycopg2
    from seed import seed

    name = f"rh_backends_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        seed(url, 600, 1800)
        out = tmp_path_factory.mktemp("snap") / "demo"
        proc = rehearse("snapshot", url, "-o", str(out), "--policy", str(REPO / "demo" / "rehearse.yaml"),
                        env={"REHEARSE_SECRET": "backends-test-secret"})
        assert proc.returncode == 0, proc.stderr
        yield out
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _docker_available() -> str | None:
    from rehearse.staging.container import client
    try:
        client()
        return None
    except errors.DockerUnavailable as exc:
        first = exc.one_line()
    out = subprocess.run(["bash", str(REPO / "scripts" / "docker-up.sh")], capture_output=True, text=True,
                         timeout=900)
    try:
        client()
        return None
    except errors.DockerUnavailable:
        return f"no Docker engine can be started here: {first}; {(out.stderr or out.stdout).strip()[-200:]}"


def _verdicts(report: dict) -> dict:
    return {
        "outcome": report["outcome"],
        "revisions": [(r["id"], r["upgrade"]["ok"], (r["downgrade"] or {}).get("ok"),
                       (r["rollback"] or {}).get("classification"), (r["reupgrade"] or {}).get("ok"))
                      for r in report["revisions"]],
        "findings": sorted({(f["revision"], f["code"]) for r in report["revisions"] for f in r["findings"]
                            if f["code"] not in ("RH201", "RH202", "RH203")}),  # timing/size-measured
        "schema_diff": sorted(d["object"] for d in report["rollback"]["schema_diff"]),
    }


def test_local_server_and_docker_staging_agree(tmp_path, demo_snapshot, server_url):
    results = {}
    backends = {"local": "local", "server": server_url}
    reason = _docker_available()
    if reason is None:
        backends["docker"] = "docker"
    for name, spec in backends.items():
        proc = rehearse("run", "--snapshot", str(demo_snapshot), "--alembic-ini",
                        str(REPO / "migrations" / "alembic.ini"), "--staging", spec,
                        "--report-dir", str(tmp_path / name))
        assert proc.returncode == 1, f"{name}: {proc.stderr}"  # the demo's 0007 downgrade is broken
        report = read_report(tmp_path / name)
        assert report["staging"] == name
        results[name] = _verdicts(report)
    assert results["local"] == results["server"]
    if "docker" in results:
        assert results["local"] == results["docker"]
    else:
        pytest.skip(f"local and server agree; docker not compared: {reason}")
