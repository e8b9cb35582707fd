"""A rehearsal can always be stopped, even while a migration statement runs for ten minutes.

A real `rehearse run` (a subprocess, a throwaway cluster, the migration child) on a project
whose second revision runs ``pg_sleep(600)``: SIGINT or SIGTERM must end it within seconds,
with the statement's backend, the child process and the staging cluster gone; and
``--statement-timeout`` / ``--timeout`` must stop it with a line that says what happened.
Only what this run created is checked (its own run directory and its own child processes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

REPO = Path(__file__).resolve().parents[2]
LONG_SLEEP = Path(__file__).parent / "projects" / "long_sleep" / "alembic.ini"


def at_revision(project_ini: Path, url: str, revision: str) -> None:
    """Bring the source database to ``revision`` (test set-up, in this process)."""
    cfg = Config(str(project_ini))
    cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg2://"))
    command.upgrade(cfg, revision)


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children of children too)."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(proc.name)] = int(fields[1])
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _start(tmp_path: Path, url: str, *extra: str) -> tuple[subprocess.Popen, Path]:
    run_dir = Path(f"/tmp/rs{uuid.uuid4().hex[:8]}")
    run_dir.mkdir()
    env = dict(os.environ, REHEARSE_RUN_DIR=str(run_dir), REHEARSE_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rehearse.cli", "run", "--source", url, "--no-strict", "--alembic-ini",
         str(LONG_SLEEP), "--report-dir", str(tmp_path / "r"), "--format", "json", *extra],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=str(REPO))
    return proc, run_dir


def _wait_for_sleep(proc: subprocess.Popen) -> tuple[list[str], int]:
    """Read the run's progress until ls02 runs; then wait until its pg_sleep is under way in the
    migration child. Returns the lines seen and the child's pid."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "upgrade ls02" in line:
            break
    else:
        pytest.fail("the run ended before ls02:\n" + "".join(seen))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = [p for p in _descendants(proc.pid) if "migrate/child.py" in _cmdline(p)]
        if children:
            break
        time.sleep(0.1)
    else:
        pytest.fail("no migration child process was seen")
    time.sleep(1.5)  # ADD COLUMN and the start of pg_sleep take milliseconds
    return seen, children[0]


def _run_dir_clean(run_dir: Path, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = [str(p) for p in run_dir.iterdir()] if run_dir.exists() else []
        left += [f"{pid}: {_cmdline(pid)[:100]}" for pid in Path("/proc").iterdir()
                 if pid.name.isdigit() and str(run_dir) in _cmdline(int(pid.name))]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_signal_during_ten_minute_statement_stops_run_at_once(tmp_path, source_db, sig):
    _, url, _ = source_db
    at_revision(LONG_SLEEP, url, "ls01")
    proc, run_dir = _start(tmp_path, url)
    try:
        _, child = _wait_for_sleep(proc)
        below = _descendants(proc.pid)
        assert child in below
        signalled = time.monotonic()
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=60)  # bounded: a run that ignores the signal fails, never hangs
        took = time.monotonic() - signalled
        assert proc.returncode == (130 if sig == signal.SIGINT else 143), rest
        assert "Traceback" not in rest, rest
        # a bound far from the 600 s the statement would take: cancelled, not waited for
        assert took < 20, f"took {took:.1f} s to stop"
        assert not _alive(below), f"processes of the run still alive: {[_cmdline(p) for p in _alive(below)]}"
        assert not _run_dir_clean(run_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["rm", "-rf", str(run_dir)])


def test_statement_timeout_names_the_statement(tmp_path, source_db):
    _, url, _ = source_db
    at_revision(LONG_SLEEP, url, "ls01")
    proc, run_dir = _start(tmp_path, url, "--statement-timeout", "2s")
    try:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err
        report = json.loads((tmp_path / "r" / "report.json").read_text())
        (ls02,) = [r for r in report["revisions"] if r["id"] == "ls02"]
        error = ls02["upgrade"]["error"]
        assert "--statement-timeout 2s" in error and "pg_sleep(600)" in error, error
        assert any("upgrade of ls02 failed" in f and "statement-timeout" in f for f in report["failures"])
        assert not _run_dir_clean(run_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["rm", "-rf", str(run_dir)])


def test_whole_run_timeout_stops_with_one_line(tmp_path, source_db):
    _, url, _ = source_db
    at_revision(LONG_SLEEP, url, "ls01")
    proc, run_dir = _start(tmp_path, url, "--timeout", "60s")
    try:
        # ls02 would sleep 600 s: ending well before that means the deadline stopped it
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 3, err
        lines = [ln for ln in err.splitlines() if ln.startswith("rehearse:")]
        assert lines == ["rehearse: the rehearsal ran longer than --timeout 1m and was stopped; "
                         "staging was torn down"], err
        assert "Traceback" not in err
        assert not _run_dir_clean(run_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["rm", "-rf", str(run_dir)])
