"""RH132: build the unique index concurrently first, then ADD CONSTRAINT ... UNIQUE USING INDEX."""

from pglast.enums import ConstrType

from ..base import register
from ..sqltools import SqlRule, added_constraints, qualified


@register
class RequireUniqueIndexForUniqueConstraint(SqlRule):
    code = "RH132"
    name = "require-unique-index-for-unique-constraint"
    severity = "high"
    summary = "Create the unique index CONCURRENTLY, then attach it with UNIQUE USING INDEX."
    references = ("squawk: disallowed-unique-constraint", "strong_migrations: add_unique_constraint")
    problem = """
        `ADD CONSTRAINT ... UNIQUE` (or a new column declared `UNIQUE`) builds its index while
        holding an ACCESS EXCLUSIVE lock: the table is unreadable for the whole build. It also
        fails at the end if existing rows are duplicated (RH204 counts them).
    """
    solution = """
        `CREATE UNIQUE INDEX CONCURRENTLY`, then
        `ALTER TABLE ... ADD CONSTRAINT name UNIQUE USING INDEX index_name` (instant).
    """
    alembic = """
        ```python
        def upgrade():
            with op.get_context().autocommit_block():
                op.create_index("users_email_key", "users", ["email"], unique=True,
                                postgresql_concurrently=True, if_not_exists=True)
            op.execute("ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key")
        ```
    """

    def check(self, stmt, state):
        for con, rel, column in added_constraints(stmt.node):
            if con.contype == ConstrType.CONSTR_UNIQUE and not con.indexname and not state.is_new(rel):
                yield self.hit(f"UNIQUE constraint on {qualified(rel)} builds its index under an ACCESS "
                               "EXCLUSIVE lock", table=qualified(rel), constraint=con.conname, column=column)
