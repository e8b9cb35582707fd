"""RH153: nothing slow should follow an ACCESS EXCLUSIVE lock in the same transaction."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule, transaction_kind

_HARMLESS = (ast.VariableSetStmt, ast.TransactionStmt, ast.CommentStmt, ast.VariableShowStmt)


@register
class BanStatementsAfterExclusiveLock(SqlRule):
    code = "RH153"
    name = "ban-statements-after-exclusive-lock"
    severity = "medium"
    summary = "Commit right after taking an ACCESS EXCLUSIVE lock; split the rest into another transaction."
    references = ("squawk: (lock held across statements)",)
    problem = """
        Locks are held until the transaction commits. Once a statement has taken an ACCESS
        EXCLUSIVE lock on a table (most `ALTER TABLE` forms), every later statement in the
        same transaction (a backfill, an index build, DDL on other tables) extends the time
        the table is unreadable. Alembic runs a whole revision, often a whole upgrade, in one
        transaction.
    """
    solution = """
        Put the exclusive-lock statement last, or in its own revision; with
        `transaction_per_migration=True` in `env.py` each revision commits separately.
    """
    alembic = """
        ```python
        # env.py
        context.configure(connection=connection, target_metadata=target_metadata,
                          transaction_per_migration=True)
        ```
    """

    def check(self, stmt, state):
        if not state.exclusive or state.exclusive_reported or not state.in_transaction:
            return
        if isinstance(stmt.node, _HARMLESS) or transaction_kind(stmt.node):
            return
        state.exclusive_reported = True
        held = sorted(set(state.exclusive))
        yield self.hit(f"this statement runs while {', '.join(held)} is held ACCESS EXCLUSIVE by an earlier "
                       "statement of the same transaction", tables=held)
