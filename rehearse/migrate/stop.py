"""The whole-run deadline (``--timeout``): a rehearsal that runs too long is stopped, staging torn down.

SIGALRM raises :class:`RunTimedOut` in the main thread wherever it is, even while it waits on
the migration process, so the same unwinding as for Ctrl-C runs: the child's statement is
cancelled (``AlembicProject.close``), then staging is torn down. It is a BaseException, like
KeyboardInterrupt, so no ``except Exception`` on the way can swallow it.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class RunTimedOut(BaseException):
    exit_code = 3

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the rehearsal ran longer than --timeout {_fmt(seconds)} and was stopped; "
                         f"staging was torn down")
        self.seconds = seconds


@contextmanager
def run_deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`RunTimedOut` in the calling (main) thread once ``seconds`` have passed."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def expire(signum, frame):
        if not fired:  # once: a second alarm must not interrupt the teardown the first one started
            fired.append(True)
            raise RunTimedOut(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _fmt(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
