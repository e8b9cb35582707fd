"""Kill a real `rehearse run` at several points: nothing it started may survive.

SIGINT and SIGTERM must unwind through teardown at once; after SIGKILL nothing can clean
up in the process, so `rehearse gc` must find and remove what the dead run left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import PROJECTS, REPO, at_revision

POINTS = {"restore": "restoring", "migration": "upgrade sl02", "rollback": "downgrade sl02"}


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


def _leftovers(run_dir: Path, cache_dir: Path) -> list[str]:
    left = [str(p) for p in run_dir.iterdir()] if run_dir.exists() else []
    left += _processes_mentioning(str(run_dir))
    runs = cache_dir / "runs"
    left += [f"registry {p.name}" for p in runs.glob("*.json")] if runs.exists() else []
    return left


def _wait_clean(run_dir: Path, cache_dir: Path, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = _leftovers(run_dir, cache_dir)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_killed_run_leaves_nothing(tmp_path, source_db, point, sig):
    _, url, _ = source_db
    at_revision(PROJECTS / "slow_lock" / "alembic.ini", url, "sl01")
    run_dir, cache_dir = Path(f"/tmp/rk{os.getpid() % 10000}{point[:2]}{sig.value}"), tmp_path / "cache"
    run_dir.mkdir(exist_ok=True)
    env = dict(os.environ, REHEARSE_RUN_DIR=str(run_dir), REHEARSE_CACHE_DIR=str(cache_dir))
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "rehearse.cli", "run", "--source", url, "--no-strict", "--alembic-ini",
             str(PROJECTS / "slow_lock" / "alembic.ini"), "--report-dir", str(tmp_path / "r")],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=str(REPO))
        seen = []
        for line in child.stderr:
            seen.append(line)
            if POINTS[point] in line:
                break
        else:
            pytest.fail("the run ended before reaching " + point + ":\n" + "".join(seen))
        time.sleep(0.3)
        assert _leftovers(run_dir, cache_dir), "the run should hold a live staging cluster here"
        child.send_signal(sig)
        _, rest = child.communicate(timeout=60)  # bounded: a run that ignores the signal fails, never hangs
        if sig == signal.SIGKILL:
            assert _leftovers(run_dir, cache_dir), "SIGKILL leaves the cluster behind until gc"
            gc = subprocess.run([sys.executable, "-m", "rehearse.cli", "gc"], capture_output=True, text=True,
                                env=env, cwd=str(REPO), timeout=60)
            assert gc.returncode == 0, gc.stderr
        else:
            assert child.returncode in (130, 143, -signal.SIGINT, -signal.SIGTERM), rest  # 130/143 or died of it
            assert "Traceback" not in rest, rest
        left = _wait_clean(run_dir, cache_dir)
        assert not left, f"left behind after {sig.name} during {point}: {left}"
    finally:
        subprocess.run(["rm", "-rf", str(run_dir)])
