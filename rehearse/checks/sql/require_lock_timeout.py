"""RH150: set lock_timeout before the first statement that must lock an existing table."""

from ..base import register
from ..sqltools import SqlRule, lock_targets


@register
class RequireLockTimeout(SqlRule):
    code = "RH150"
    name = "require-lock-timeout"
    severity = "medium"
    once_per_revision = True
    summary = "SET lock_timeout before DDL so a queued lock cannot stall all traffic."
    references = ("squawk: require-timeout-settings (lock_timeout)", "squawk: require-lock-timeout", "strong_migrations: lock_timeout")
    problem = """
        A DDL statement waits for its lock behind any long-running query, and while it waits
        every new query on the table queues behind *it*. Without `lock_timeout`, a migration
        waiting for a lock can take the application down even if the DDL itself is instant.
        This holds for every DDL that locks something that already exists, not only ALTER
        TABLE: CREATE INDEX / TRIGGER / POLICY / RULE / STATISTICS, a partition of an existing
        table, DROP, RENAME or SET SCHEMA of any object, COMMENT ON, REFRESH MATERIALIZED VIEW,
        ALTER SEQUENCE / DOMAIN, TRUNCATE, LOCK, REINDEX, CLUSTER and VACUUM FULL.
    """
    solution = """
        `SET lock_timeout = '2s'` (or `SET LOCAL` inside the transaction) before the first
        locking statement of the revision, and retry the migration if it times out.
    """
    alembic = """
        ```python
        def upgrade():
            op.execute("SET LOCAL lock_timeout = '2s'")
            op.add_column("orders", sa.Column("note", sa.Text()))
        ```
        Or set it once for every revision in `env.py`:
        `context.configure(..., )` followed by `connection.exec_driver_sql("SET lock_timeout = '2s'")`.
    """

    def check(self, stmt, state):
        if state.lock_timeout:
            return
        targets = lock_targets(stmt.node, state)
        if targets:
            yield self.hit(f"this statement locks {', '.join(targets)} with no lock_timeout set in the revision",
                           tables=targets)
