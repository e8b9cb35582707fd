"""RH127: VALIDATE CONSTRAINT in the same transaction as its NOT VALID add."""

from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, bare, qualified


@register
class RequireSeparateValidateTransaction(SqlRule):
    code = "RH127"
    name = "require-separate-validate-transaction"
    severity = "high"
    summary = "Commit the NOT VALID add before VALIDATE CONSTRAINT, or the add's strong lock is held while it scans."
    references = ("squawk: constraint-missing-not-valid (validate in the same transaction)",)
    problem = """
        `ADD CONSTRAINT ... NOT VALID` takes a brief strong lock (ACCESS EXCLUSIVE for a CHECK,
        SHARE ROW EXCLUSIVE for a foreign key) so that `VALIDATE CONSTRAINT` can scan later
        under a weaker one. In the same transaction, the strong lock is still held while the
        validation scans the whole table: reads and writes wait for the full scan, exactly
        what NOT VALID was meant to avoid.
    """
    solution = """
        Commit between the two: add the constraint NOT VALID in one transaction (or revision),
        validate it in the next.
    """
    alembic = """
        ```python
        def upgrade():
            op.execute("ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0) NOT VALID")
            op.execute("COMMIT")  # or: validate in the next revision
            op.execute("ALTER TABLE orders VALIDATE CONSTRAINT amount_positive")
        ```
        With `transaction_per_migration = True` in env.py, putting the VALIDATE in the next
        revision is enough.
    """

    def check(self, stmt, state):
        node = stmt.node
        if not state.in_transaction:
            return
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_ValidateConstraint:
                key = (bare(node.relation), (cmd.name or "").lower())
                if key in state.not_valid:
                    yield self.hit(f"constraint {cmd.name} on {qualified(node.relation)} is validated in the "
                                   "transaction that added it NOT VALID: the add's lock is held during the scan",
                                   table=qualified(node.relation), constraint=cmd.name)
