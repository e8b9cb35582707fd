"""RH146: enum types are hard to change; note every new one."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule, names


@register
class AvoidEnumType(SqlRule):
    code = "RH146"
    name = "avoid-enum-type"
    severity = "info"
    summary = "Consider text + CHECK or a lookup table instead of a PostgreSQL enum."
    problem = """
        Enum values cannot be removed or reordered without recreating the type and
        rewriting every table that uses it, and adding a value cannot be rolled back.
    """
    solution = "Use `text` with a CHECK constraint, or a small lookup table with a foreign key."
    alembic = """
        ```python
        op.add_column("orders", sa.Column("status", sa.Text(), nullable=True))
        op.create_check_constraint("orders_status_valid", "orders",
                                   "status IN ('new', 'paid', 'shipped')", postgresql_not_valid=True)
        ```
    """

    def check(self, stmt, state):
        if isinstance(stmt.node, ast.CreateEnumStmt):
            enum = ".".join(names(stmt.node.typeName))
            yield self.hit(f"enum type {enum} is created; its values will be hard to change", enum=enum)
