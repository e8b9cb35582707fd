"""RH105: DETACH PARTITION without CONCURRENTLY blocks the whole partitioned table."""

from pglast import ast
from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, qualified


@register
class RequireConcurrentPartitionDetach(SqlRule):
    code = "RH105"
    name = "require-concurrent-partition-detach"
    severity = "high"
    summary = "DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+), outside a transaction."
    references = ("squawk: require-concurrent-partition-detach",)
    problem = """
        `ALTER TABLE parent DETACH PARTITION child` takes an ACCESS EXCLUSIVE lock on the
        parent: every read and write of every partition waits, and queues behind any long
        query already running on it.
    """
    solution = """
        From PostgreSQL 14, `DETACH PARTITION child CONCURRENTLY` takes only SHARE UPDATE
        EXCLUSIVE on the parent. It cannot run inside a transaction block; if it is
        interrupted, finish it with `DETACH PARTITION child FINALIZE`.
    """
    alembic = """
        ```python
        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY")
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if state.server_version_num < 140000:
            return
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_DetachPartition and isinstance(cmd.def_, ast.PartitionCmd) \
                    and not cmd.def_.concurrent and not state.is_new(node.relation):
                yield self.hit(f"partition {qualified(cmd.def_.name)} is detached from {qualified(node.relation)} "
                               "without CONCURRENTLY: every partition is locked", table=qualified(node.relation),
                               partition=qualified(cmd.def_.name))
