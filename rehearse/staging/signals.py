"""Signals during staging: SIGTERM/SIGHUP unwind like Ctrl-C, and teardown cannot be interrupted.

Turning a signal into an exception is what lets ``open_staging``'s ``finally`` remove the
cluster, container or scratch database when a CI job is cancelled.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) arrived; raised so the pipeline unwinds and tears staging down.

    A BaseException, like KeyboardInterrupt, so ``except Exception`` does not swallow it.
    The CLI should exit with ``128 + signum``.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signal.Signals(signum).name}")
        self.signum = signum


_HANDLER_PID: int | None = None


def _raise_terminated(signum, _frame) -> None:
    if os.getpid() != _HANDLER_PID:
        # a forked worker (e.g. a snapshot reader) inherited the handler: die the default way
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` (SIGINT already raises KeyboardInterrupt)."""
    global _HANDLER_PID
    _HANDLER_PID = os.getpid()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_terminated)


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within staging, SIGTERM unwinds even when the caller installed no handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _HANDLER_PID
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_DFL, None):
        _HANDLER_PID = os.getpid()
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM while tearing down, so a second signal cannot leave half a cleanup."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
