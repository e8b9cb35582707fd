"""RH124: dropping a constraint removes a guarantee the data and the code rely on."""

from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, qualified


@register
class BanDropConstraint(SqlRule):
    code = "RH124"
    name = "ban-drop-constraint"
    severity = "medium"
    summary = "Drop a constraint only once nothing relies on it, and plan how the downgrade re-adds it."
    references = ("squawk: ban-drop-constraint (squawk-cli 2.70)",)
    problem = """
        `DROP CONSTRAINT` is quick, but once the guarantee is gone rows that break it can be
        written at once: duplicates after a UNIQUE, orphans after a FOREIGN KEY, out-of-range
        values after a CHECK. The downgrade that re-adds the constraint then fails on them,
        or has to scan and lock the table to validate it. Dropping a primary key or unique
        constraint also drops its index, which queries may depend on.
    """
    solution = """
        Make sure the constraint is really unwanted (not just in the way of one backfill). If
        it must come back on downgrade, re-add it `NOT VALID` and validate in a separate step.
    """
    alembic = """
        ```python
        def upgrade():
            op.drop_constraint("orders_customer_id_fkey", "orders", type_="foreignkey")

        def downgrade():
            op.execute("ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) "
                       "REFERENCES customers (id) NOT VALID")
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_DropConstraint and not state.is_new(node.relation):
                yield self.hit(f"constraint {cmd.name} is dropped from {qualified(node.relation)}: rows that "
                               "break it can be written from now on", table=qualified(node.relation),
                               constraint=cmd.name)
