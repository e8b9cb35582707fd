"""RH134: ADD CONSTRAINT ... EXCLUDE builds an index under an ACCESS EXCLUSIVE lock."""

from pglast.enums import ConstrType

from ..base import register
from ..sqltools import SqlRule, added_constraints, qualified


@register
class BanExclusionConstraint(SqlRule):
    code = "RH134"
    name = "ban-exclusion-constraint"
    severity = "high"
    summary = "Adding an exclusion constraint to an existing table blocks it for the whole index build."
    references = ("strong_migrations: add_exclusion_constraint",)
    problem = """
        Exclusion constraints cannot be added `NOT VALID` nor attached from an index built
        concurrently: PostgreSQL builds the index and checks every row under an ACCESS
        EXCLUSIVE lock.
    """
    solution = """
        Add them when the table is created, or during a maintenance window; for large tables
        consider enforcing the rule in a trigger first.
    """
    alembic = """
        ```python
        from sqlalchemy.dialects.postgresql import ExcludeConstraint
        # declare it in op.create_table(...) for new tables only
        ```
    """

    def check(self, stmt, state):
        for con, rel, _ in added_constraints(stmt.node):
            if con.contype == ConstrType.CONSTR_EXCLUSION and not state.is_new(rel):
                yield self.hit(f"exclusion constraint on {qualified(rel)} builds its index under an ACCESS "
                               "EXCLUSIVE lock", table=qualified(rel), constraint=con.conname)
