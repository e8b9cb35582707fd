"""Statements that need an exclusive lock -> run with a short lock_timeout, retried (RH150)."""

from __future__ import annotations

from pglast import ast

from .base import RETRY, Step, register, single

# statements whose lock queues everyone behind them while they wait for it
_EXCLUSIVE = (ast.AlterTableStmt, ast.RenameStmt, ast.DropStmt, ast.TruncateStmt)


@register("lock-timeout-retry", "RH150", "RH153", fallback=True)
def lock_timeout(node, sql):
    """A statement waiting for ACCESS EXCLUSIVE blocks every query queued behind it, for as long
    as the longest running transaction lasts. A short lock_timeout makes it give up and retry."""
    if not isinstance(node, _EXCLUSIVE):
        return None
    return single([Step(sql, RETRY, "gives up after LOCK_TIMEOUT instead of queueing traffic behind it; retried")],
                  "lock-timeout-retry", ("RH150",), "run exclusive statements with lock_timeout and retries",
                  ("the lock is still exclusive once taken: this bounds the wait, not the hold",))
