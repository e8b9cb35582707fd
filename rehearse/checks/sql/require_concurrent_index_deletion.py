"""RH102: DROP INDEX must use CONCURRENTLY."""

from pglast import ast
from pglast.enums import ObjectType

from ..base import register
from ..sqltools import SqlRule, bare, names


@register
class RequireConcurrentIndexDeletion(SqlRule):
    code = "RH102"
    name = "require-concurrent-index-deletion"
    severity = "medium"
    summary = "Drop indexes with DROP INDEX CONCURRENTLY."
    references = ("squawk: require-concurrent-index-deletion",)
    problem = """
        `DROP INDEX` takes an ACCESS EXCLUSIVE lock on the index's table: reads and writes
        queue behind it, and behind any long query that is still using the table.
    """
    solution = """
        Use `DROP INDEX CONCURRENTLY`, which waits for running transactions instead of
        blocking new ones. It cannot run inside a transaction block.
    """
    alembic = """
        ```python
        def upgrade():
            with op.get_context().autocommit_block():
                op.drop_index("ix_orders_created_at", table_name="orders",
                              postgresql_concurrently=True, if_exists=True)
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX and not node.concurrent:
            for obj in node.objects or ():
                index = ".".join(names(obj))
                if bare(index) not in state.created:
                    yield self.hit(f"DROP INDEX {index} without CONCURRENTLY locks its table "
                                   "against reads and writes", index=index)
