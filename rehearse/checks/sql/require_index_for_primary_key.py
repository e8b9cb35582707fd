"""RH133: build the primary key's index concurrently first, then ADD PRIMARY KEY USING INDEX."""

from pglast.enums import ConstrType

from ..base import register
from ..sqltools import SqlRule, added_constraints, qualified


@register
class RequireIndexForPrimaryKey(SqlRule):
    code = "RH133"
    name = "require-index-for-primary-key"
    severity = "high"
    summary = "Create a unique index CONCURRENTLY, then ADD PRIMARY KEY USING INDEX."
    references = ("squawk: adding-primary-key-constraint", "squawk: adding-serial-primary-key-field")
    problem = """
        `ADD PRIMARY KEY` builds a unique index and, for columns not yet NOT NULL, scans for
        NULLs, all under an ACCESS EXCLUSIVE lock.
    """
    solution = """
        Make the columns NOT NULL safely (RH113), `CREATE UNIQUE INDEX CONCURRENTLY`, then
        `ALTER TABLE ... ADD CONSTRAINT pk PRIMARY KEY USING INDEX that_index`.
    """
    alembic = """
        ```python
        def upgrade():
            with op.get_context().autocommit_block():
                op.create_index("events_pkey", "events", ["id"], unique=True,
                                postgresql_concurrently=True, if_not_exists=True)
            op.execute("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_pkey")
        ```
    """

    def check(self, stmt, state):
        for con, rel, column in added_constraints(stmt.node):
            if con.contype == ConstrType.CONSTR_PRIMARY and not con.indexname and not state.is_new(rel):
                yield self.hit(f"PRIMARY KEY on {qualified(rel)} builds its index under an ACCESS EXCLUSIVE lock",
                               table=qualified(rel), constraint=con.conname, column=column)
