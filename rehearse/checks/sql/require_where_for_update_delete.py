"""RH156: UPDATE/DELETE without WHERE touches every row in one transaction."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule, qualified


@register
class RequireWhereForUpdateDelete(SqlRule):
    code = "RH156"
    name = "require-where-for-update-delete"
    severity = "medium"
    summary = "Backfill in batches, not with one UPDATE/DELETE over the whole table."
    references = ("strong_migrations: backfilling data",)
    problem = """
        A single `UPDATE` or `DELETE` without `WHERE` locks every row it touches until the
        migration commits, doubles the table's size in dead tuples, and generates WAL for
        the whole table; concurrent writes to those rows wait the whole time.
    """
    solution = """
        Backfill in batches of a few thousand rows (by primary key range), each in its own
        transaction, outside the schema migration or in an autocommit block.
    """
    alembic = """
        ```python
        def upgrade():
            conn = op.get_bind()
            with op.get_context().autocommit_block():
                while conn.execute(sa.text(
                        "UPDATE orders SET status = 'new' WHERE id IN "
                        "(SELECT id FROM orders WHERE status IS NULL LIMIT 5000)")).rowcount:
                    pass
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)) and node.whereClause is None \
                and not state.is_new(node.relation):
            verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
            yield self.hit(f"{verb} on {qualified(node.relation)} has no WHERE: every row is rewritten "
                           "in one transaction", table=qualified(node.relation),
                           rows_affected=stmt.trace.rows_affected if stmt.trace else None)
