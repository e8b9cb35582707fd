"""RH163: ALTER TYPE ... ADD VALUE without BEFORE/AFTER appends, whatever order was meant."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule, names


@register
class RequireEnumValueOrdering(SqlRule):
    code = "RH163"
    name = "require-enum-value-ordering"
    severity = "low"
    summary = "Say where a new enum value goes (BEFORE or AFTER an existing one)."
    references = ("squawk: require-enum-value-ordering",)
    problem = """
        Enum values sort by their position, not their text. `ADD VALUE 'x'` without `BEFORE`
        or `AFTER` puts `x` last, so `ORDER BY status`, `status > 'pending'` and indexes on the
        column order it after values it was meant to precede. Moving it later means
        recreating the type, which rewrites every table using it.
    """
    solution = """
        Write the position: `ALTER TYPE status ADD VALUE 'shipped' AFTER 'paid'`. If last is
        what you mean, say `AFTER` the current last value so the intent is in the migration.
    """
    alembic = """
        ```python
        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("ALTER TYPE status ADD VALUE IF NOT EXISTS 'shipped' AFTER 'paid'")
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.AlterEnumStmt) and node.newVal and node.oldVal is None \
                and node.newValNeighbor is None:
            enum = ".".join(names(node.typeName))
            yield self.hit(f"value '{node.newVal}' is appended to the end of enum {enum}: say BEFORE or AFTER "
                           "which existing value it belongs", enum=enum, value=node.newVal)
