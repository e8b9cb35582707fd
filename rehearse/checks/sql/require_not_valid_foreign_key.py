"""RH130: add foreign keys NOT VALID, then VALIDATE in a separate step."""

from pglast.enums import ConstrType

from ..base import register
from ..sqltools import SqlRule, added_constraints, qualified


@register
class RequireNotValidForeignKey(SqlRule):
    code = "RH130"
    name = "require-not-valid-foreign-key"
    severity = "high"
    summary = "Add foreign keys with NOT VALID, then VALIDATE CONSTRAINT separately."
    references = ("squawk: adding-foreign-key-constraint", "squawk: constraint-missing-not-valid (FOREIGN KEY)", "strong_migrations: add_foreign_key")
    problem = """
        Adding a foreign key checks every existing row while holding SHARE ROW EXCLUSIVE locks
        on *both* tables: writes to the table and to the referenced table stop for the whole
        scan.
    """
    solution = """
        Add the constraint `NOT VALID` (instant; new rows are checked) and run
        `VALIDATE CONSTRAINT` in a following step: it scans with a SHARE UPDATE EXCLUSIVE lock
        that lets reads and writes continue.
    """
    alembic = """
        ```python
        def upgrade():
            op.create_foreign_key("orders_user_id_fkey", "orders", "users", ["user_id"], ["id"],
                                  postgresql_not_valid=True)
            op.execute("ALTER TABLE orders VALIDATE CONSTRAINT orders_user_id_fkey")
        ```
    """

    def check(self, stmt, state):
        for con, rel, column in added_constraints(stmt.node):
            if con.contype == ConstrType.CONSTR_FOREIGN and not con.skip_validation and not state.is_new(rel):
                yield self.hit(f"foreign key on {qualified(rel)} is validated while it is added: both tables are "
                               "locked against writes during the scan", table=qualified(rel),
                               references=qualified(con.pktable), constraint=con.conname, column=column)
