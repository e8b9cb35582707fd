"""RH145: enum values can be added but never removed; renames break running code."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule, names


@register
class BanEnumValueChange(SqlRule):
    code = "RH145"
    name = "ban-enum-value-change"
    severity = "medium"
    summary = "Adding an enum value cannot be undone; renaming one breaks running code."
    references = ("strong_migrations: (enum) add_value",)
    problem = """
        `ALTER TYPE ... ADD VALUE` cannot be reversed (PostgreSQL has no DROP VALUE), so the
        downgrade cannot restore the type; before PostgreSQL 12 it also fails inside a
        transaction, and the new value cannot be used in the same transaction.
        `RENAME VALUE` breaks every running query and application constant using the old label.
    """
    solution = """
        Use `ADD VALUE IF NOT EXISTS` in an autocommit block and accept that the downgrade
        leaves it in place (or use a lookup table / text + CHECK instead of an enum). Never
        rename values that running code uses.
    """
    alembic = """
        ```python
        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'")
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if not isinstance(node, ast.AlterEnumStmt):
            return
        enum = ".".join(names(node.typeName))
        if node.oldVal:
            yield self.hit(f"enum {enum} value {node.oldVal!r} is renamed to {node.newVal!r}: running code "
                           "still uses the old label", enum=enum, old=node.oldVal, new=node.newVal)
        else:
            extra = ("; before PostgreSQL 12 this fails inside a transaction"
                     if state.server_version_num < 120000 and state.in_transaction else "")
            yield self.hit(f"enum {enum} gains value {node.newVal!r}, which no downgrade can remove{extra}",
                           severity="high" if extra else None, enum=enum, value=node.newVal)
