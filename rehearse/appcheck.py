"""``--app-check CMD``: the team's own command (a smoke test, an integration suite) run against
staging at chosen moments of the rehearsal, with the staging URL in an environment variable.

Each run is a shell command (``/bin/sh -c``) in its own process group, so a timeout ends the
whole tree it started (SIGTERM, then SIGKILL two seconds later), not only the shell. Output
(stdout and stderr together) goes to a temporary file; the report keeps its tail. The URL is
the plain ``postgresql://`` form most applications read (no SQLAlchemy driver suffix).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time

from .model import AppCheckRun, StagingDatabase

TAIL_LINES = 20
TAIL_CHARS = 2000
_KILL_GRACE_S = 2.0


def app_url(db: StagingDatabase) -> str:
    """The staging URL as applications expect it: postgresql://... without a driver."""
    scheme, sep, rest = db.url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


def _tail(text: str) -> str:
    lines = text.rstrip("\n").splitlines()[-TAIL_LINES:]
    out = "\n".join(lines)
    return out[-TAIL_CHARS:]


def run_app_check(command: str, db: StagingDatabase, *, moment: str, env_name: str = "DATABASE_URL",
                  timeout_s: float = 300.0, cwd: str | None = None) -> AppCheckRun:
    """Run ``command`` once against ``db``; never raises for the command's own failure."""
    env = dict(os.environ, **{env_name: app_url(db)})
    with tempfile.TemporaryFile(mode="w+b") as out:
        started = time.perf_counter()
        try:
            proc = subprocess.Popen(["/bin/sh", "-c", command], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)
        except OSError as exc:
            return AppCheckRun(command=command, moment=moment, ok=False, exit_code=None, duration_s=0.0,
                               output_tail=f"could not start: {exc}")
        timed_out = False
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            code = proc.returncode
        except BaseException:
            _kill_group(proc)
            raise
        duration = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if timed_out:
        text += f"\n[rehearse: stopped after {timeout_s:g} s (--app-check-timeout); its process group was killed]"
    return AppCheckRun(command=command, moment=moment, ok=(code == 0 and not timed_out), exit_code=code,
                       duration_s=round(duration, 3), timed_out=timed_out, output_tail=_tail(text))


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, _KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            # the shell is gone; children that ignored SIGTERM may not be: make sure
            if sig == signal.SIGTERM:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return
        except subprocess.TimeoutExpired:
            continue
