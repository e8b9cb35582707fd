"""RH201: a blocking lock held too long on a table that matters."""

from ..base import register
from .base import TraceRule


@register
class LimitBlockingLockDuration(TraceRule):
    code = "RH201"
    name = "limit-blocking-lock-duration"
    severity = "high"
    summary = "A lock that blocks reads or writes was held too long on a large table."
    problem = """
        During the rehearsal this statement took a lock that blocks the application's reads
        or writes, and kept it (until commit) for longer than the threshold, on a table large
        enough to be busy in production (defaults: held ≥ 1 s on a table with ≥ 10,000 rows or
        ≥ 10 MB; configurable as `thresholds.lock_held_s`, `table_rows`, `table_bytes`). A hold
        counts only when it exceeds the limit by `thresholds.duration_noise` (25 %): timings on a
        copy vary from run to run, the verdict must not.
        Production has more load than the rehearsal: expect at least this long.
        A lock that blocks reads (ACCESS EXCLUSIVE) is reported as critical.
    """
    solution = """
        Use the lock-friendly form of the operation (the static finding on the same statement
        names it), split the revision so the lock is committed sooner, and set `lock_timeout`.
    """
    alembic = """
        Commit early: `transaction_per_migration=True` in `env.py`, keep the heavy statement in
        its own revision, and prefer `postgresql_concurrently=True` / `postgresql_not_valid=True`.
    """

    def check(self, trace, thresholds):
        for lock in trace.locks:
            if not (lock.blocks_reads or lock.blocks_writes) or lock.held_s is None:
                continue
            if not thresholds.exceeds(lock.held_s, thresholds.lock_held_s) or not thresholds.is_big(lock.rows, lock.bytes):
                continue
            blocks = "reads and writes" if lock.blocks_reads else "writes"
            yield self.hit(f"{lock.mode} on {lock.relation} blocked {blocks} for {lock.held_s:.1f} s "
                           f"({_size(lock.rows, lock.bytes)})",
                           severity="critical" if lock.blocks_reads else None,
                           relation=lock.relation, lock_mode=lock.mode, held_s=round(lock.held_s, 3),
                           rows=lock.rows, bytes=lock.bytes, blocks_reads=lock.blocks_reads,
                           blocks_writes=lock.blocks_writes)


def _size(rows, size) -> str:
    parts = []
    if rows is not None:
        parts.append(f"{rows:,} rows")
    if size is not None:
        parts.append(f"{size / 1048576:.1f} MB")
    return ", ".join(parts) or "size unknown"
