"""RH111: before PostgreSQL 11, any ADD COLUMN ... DEFAULT rewrites the table."""

from pglast.enums import ConstrType

from ..base import register
from ..sqltools import SqlRule, column_defs, constraints_of, qualified


@register
class BanAddColumnDefaultBeforePg11(SqlRule):
    code = "RH111"
    name = "ban-add-column-default-before-pg11"
    severity = "high"
    summary = "On PostgreSQL < 11, add columns without a default, then set it and backfill."
    references = ("squawk: adding-field-with-default (pg_version < 11)", "strong_migrations: add_column_default")
    problem = """
        Before PostgreSQL 11, `ALTER TABLE ... ADD COLUMN ... DEFAULT x` writes `x` into every
        existing row: a full table rewrite while holding an ACCESS EXCLUSIVE lock. This rule
        fires only when the rehearsal's server is older than 11.
    """
    solution = """
        Add the column without a default, then `ALTER COLUMN ... SET DEFAULT` (new rows only),
        then backfill existing rows in batches.
    """
    alembic = """
        ```python
        def upgrade():
            op.add_column("users", sa.Column("active", sa.Boolean(), nullable=True))
            op.alter_column("users", "active", server_default=sa.true())
            # backfill: UPDATE users SET active = true WHERE id BETWEEN ... (in batches)
        ```
    """

    def check(self, stmt, state):
        if state.server_version_num >= 110000:
            return
        for coldef, rel, existing in column_defs(stmt.node):
            if existing and not state.is_new(rel) and constraints_of(coldef, ConstrType.CONSTR_DEFAULT):
                yield self.hit(f"on PostgreSQL {state.server_version_num // 10000}, adding {coldef.colname} "
                               f"with a default rewrites all of {qualified(rel)}",
                               table=qualified(rel), column=coldef.colname,
                               server_version_num=state.server_version_num)
