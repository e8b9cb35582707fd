"""RH131: add CHECK constraints NOT VALID, then VALIDATE in a separate step."""

from pglast.enums import ConstrType

from ..base import register
from ..sqltools import SqlRule, added_constraints, qualified


@register
class RequireNotValidCheck(SqlRule):
    code = "RH131"
    name = "require-not-valid-check"
    severity = "high"
    summary = "Add CHECK constraints with NOT VALID, then VALIDATE CONSTRAINT separately."
    references = ("squawk: constraint-missing-not-valid", "strong_migrations: add_check_constraint")
    problem = """
        `ADD CONSTRAINT ... CHECK (...)` scans the whole table while holding an ACCESS
        EXCLUSIVE lock: no reads or writes until every row has been checked.
    """
    solution = """
        Add it `NOT VALID` (instant; new and updated rows are checked), then
        `VALIDATE CONSTRAINT` in a later statement with only a SHARE UPDATE EXCLUSIVE lock.
    """
    alembic = """
        ```python
        def upgrade():
            op.create_check_constraint("price_positive", "products", "price > 0",
                                       postgresql_not_valid=True)
            op.execute("ALTER TABLE products VALIDATE CONSTRAINT price_positive")
        ```
    """

    def check(self, stmt, state):
        for con, rel, column in added_constraints(stmt.node):
            if con.contype == ConstrType.CONSTR_CHECK and not con.skip_validation and not state.is_new(rel):
                yield self.hit(f"CHECK constraint on {qualified(rel)} is validated while it is added, "
                               "under an ACCESS EXCLUSIVE lock", table=qualified(rel),
                               constraint=con.conname, column=column)
