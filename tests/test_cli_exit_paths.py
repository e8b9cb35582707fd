"""The CLI's last-resort exit paths, through a real `rehearse run` child process and real PostgreSQL.

* An exception rehearse did not expect becomes one line and exit 3; the traceback appears only
  with REHEARSE_DEBUG=1. The trigger is honest: a snapshot manifest whose fields have the wrong
  type (``read_snapshot`` checks that fields exist, not their types), which surfaces as a
  TypeError/ValueError deep inside the run.
* SIGTERM (a cancelled CI job) during a slow revision exits 143 with one line, after staging
  was torn down: no cluster, no scratch database, no registry record of that run is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest
from alembic import command
from alembic.config import Config

REPO = Path(__file__).resolve().parent.parent
PROJECTS = REPO / "tests" / "projects"
REHEARSE = [sys.executable, "-m", "rehearse.cli"]
SERVER_DSN = os.environ.get("REHEARSE_TEST_SERVER", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
SERVER_URL = os.environ.get("REHEARSE_TEST_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _upgrade(project: str, url: str, revision: str) -> None:
    cfg = Config(str(PROJECTS / project / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg2://"))
    command.upgrade(cfg, revision)


@pytest.fixture()
def isolated(tmp_path):
    """A cache (registry, snapshots) and a short run directory (socket paths < 107 bytes) of this test only."""
    run_dir = Path(tempfile.mkdtemp(prefix="rx", dir="/tmp"))
    os.chmod(run_dir, 0o755)  # the cluster runs as the postgres OS user and must reach its rundir
    cache = tmp_path / "cache"
    env = dict(os.environ, REHEARSE_CACHE_DIR=str(cache), REHEARSE_RUN_DIR=str(run_dir))
    env.pop("REHEARSE_DEBUG", None)
    try:
        yield env, run_dir, cache
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _processes_mentioning(path: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if path in cmd:
                found.append(f"{proc.name}: {cmd[:120]}")
    return found


def _marked_databases(pid: int) -> list[str]:
    """Scratch databases on the 5432 server whose ownership marker names the process ``pid``."""
    conn = psycopg2.connect(SERVER_DSN)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE %s",
                        (f"rehearse:%:{pid}:%",))
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def _leftovers(run_dir: Path, cache: Path, pid: int | None = None) -> list[str]:
    left = [str(p) for p in run_dir.iterdir()]
    left += _processes_mentioning(str(run_dir))
    runs = cache / "runs"
    left += [f"registry {p.name}" for p in runs.glob("*.json*")] if runs.exists() else []
    if pid is not None:
        left += [f"database {name}" for name in _marked_databases(pid)]
    return left


def _wait_clean(run_dir: Path, cache: Path, pid: int | None = None, timeout: float = 30.0) -> list[str]:
    # generous: only a slow machine makes it wait, and a pass never depends on how long it took
    deadline = time.monotonic() + timeout
    while True:
        left = _leftovers(run_dir, cache, pid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _one_rehearse_line(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("rehearse:")]


# --- an unexpected exception --------------------------------------------------------------------


@pytest.fixture()
def snapshot_dir(source_db, isolated, tmp_path) -> Path:
    """A real snapshot of a small project (clean, at clean01), pulled by `rehearse snapshot`."""
    _, url, _ = source_db
    env, _, _ = isolated
    _upgrade("clean", url, "clean01")
    out = tmp_path / "snap"
    pulled = subprocess.run([*REHEARSE, "snapshot", url, "-o", str(out), "--no-strict"], capture_output=True,
                            text=True, env=env, cwd=str(REPO), timeout=300)
    assert pulled.returncode == 0, pulled.stderr
    return out


def _corrupt(snapshot: Path, field: str) -> None:
    manifest = snapshot / "manifest.json"
    data = json.loads(manifest.read_text())
    if field == "server_version_num":  # a number written as text: fails choosing the staging server
        data["source"]["server_version_num"] = str(data["source"]["server_version_num"])
    elif field == "settings":  # a list where a mapping belongs: fails after staging was populated
        data["source"]["settings"] = sorted(data["source"]["settings"])
    manifest.write_text(json.dumps(data))


@pytest.mark.parametrize("field", ["server_version_num", "settings"])
def test_unexpected_exception_is_one_line_exit_3_and_traceback_only_with_debug(snapshot_dir, isolated,
                                                                               tmp_path, field):
    env, run_dir, cache = isolated
    _corrupt(snapshot_dir, field)
    args = [*REHEARSE, "run", "--snapshot", str(snapshot_dir), "--alembic-ini",
            str(PROJECTS / "clean" / "alembic.ini"), "--report-dir", str(tmp_path / "r"), "--no-strict"]

    plain = subprocess.run(args, capture_output=True, text=True, env=env, cwd=str(REPO), timeout=300)
    assert plain.returncode == 3, plain.stderr
    lines = _one_rehearse_line(plain.stderr)
    assert len(lines) == 1 and lines[0].startswith("rehearse: internal error: "), plain.stderr
    assert "this is a bug in rehearse" in lines[0] and "REHEARSE_DEBUG=1" in lines[0]
    assert "Traceback" not in plain.stderr, plain.stderr
    assert not (tmp_path / "r" / "report.json").exists()

    debug = subprocess.run(args, capture_output=True, text=True, env={**env, "REHEARSE_DEBUG": "1"},
                           cwd=str(REPO), timeout=300)
    assert debug.returncode == 3, debug.stderr
    assert "Traceback (most recent call last)" in debug.stderr
    assert "TypeError" in debug.stderr or "ValueError" in debug.stderr, debug.stderr
    assert len(_one_rehearse_line(debug.stderr)) == 1, debug.stderr

    # both runs unwound through staging's teardown (the settings case had a running cluster)
    assert not _wait_clean(run_dir, cache)


# --- SIGTERM --------------------------------------------------------------------------------------


@pytest.mark.parametrize("staging", ["local", SERVER_URL], ids=["local", "server"])
def test_sigterm_during_a_slow_revision_exits_143_and_leaves_nothing(source_db, isolated, tmp_path, staging):
    _, url, _ = source_db
    env, run_dir, cache = isolated
    _upgrade("slow_lock", url, "sl01")  # sl02 holds ACCESS EXCLUSIVE for 3 s (pg_sleep)
    child = subprocess.Popen(
        [*REHEARSE, "run", "--source", url, "--no-strict", "--staging", staging, "--alembic-ini",
         str(PROJECTS / "slow_lock" / "alembic.ini"), "--report-dir", str(tmp_path / "r")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO))
    try:
        seen = []
        for line in child.stderr:
            seen.append(line)
            if "upgrade sl02" in line:
                break
        else:
            pytest.fail("the run ended before upgrading sl02:\n" + "".join(seen))
        held = _leftovers(run_dir, cache, child.pid)
        assert any(item.startswith("registry") for item in held), held
        if staging == "local":
            assert any("postgres" in item for item in held), f"no staging cluster is running: {held}"
        else:
            assert _marked_databases(child.pid), "no scratch database of this run exists on the server"

        child.send_signal(signal.SIGTERM)
        _, rest = child.communicate(timeout=120)  # bounded, as above
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    assert child.returncode == 143, "".join(seen) + rest
    lines = _one_rehearse_line(rest)
    assert lines == ["rehearse: terminated; staging was torn down"], rest
    assert "Traceback" not in rest, rest
    # teardown ran before exit: what the run created is gone already (a short grace for the
    # postmaster's children to be reaped on a busy machine)
    left = _wait_clean(run_dir, cache, child.pid)
    assert not left, f"left behind after SIGTERM: {left}"
