"""RH113: SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock."""

from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, bare, qualified


@register
class BanSetNotNull(SqlRule):
    code = "RH113"
    name = "ban-set-not-null"
    severity = "high"
    summary = "Add NOT NULL through a NOT VALID CHECK constraint validated separately."
    references = ("squawk: adding-not-nullable-field", "strong_migrations: change_column_null")
    problem = """
        `ALTER COLUMN ... SET NOT NULL` scans the whole table to prove there is no NULL, and
        holds an ACCESS EXCLUSIVE lock (no reads, no writes) during the scan. If a NULL
        exists, the migration fails after the scan.
    """
    solution = """
        On PostgreSQL 12+: add `CHECK (col IS NOT NULL) NOT VALID` (instant), `VALIDATE
        CONSTRAINT` it (a scan that only takes SHARE UPDATE EXCLUSIVE), then `SET NOT NULL`
        (which now skips the scan because of the valid check) and drop the check. Dropping
        NOT NULL is always cheap.
    """
    alembic = """
        ```python
        def upgrade():
            op.create_check_constraint("orders_status_not_null", "orders",
                                       "status IS NOT NULL", postgresql_not_valid=True)
            op.execute("ALTER TABLE orders VALIDATE CONSTRAINT orders_status_not_null")
            op.alter_column("orders", "status", nullable=False)
            op.drop_constraint("orders_status_not_null", "orders", type_="check")
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        for cmd in alter_cmds(node):
            if cmd.subtype != AlterTableType.AT_SetNotNull or state.is_new(node.relation):
                continue
            if state.server_version_num >= 120000 and bare(node.relation) in state.validated:
                continue  # a validated CHECK (col IS NOT NULL) lets PostgreSQL skip the scan
            yield self.hit(f"SET NOT NULL on {qualified(node.relation)}.{cmd.name} scans the table "
                           "under an ACCESS EXCLUSIVE lock", table=qualified(node.relation), column=cmd.name)
