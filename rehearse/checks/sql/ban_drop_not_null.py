"""RH160: DROP NOT NULL lets the running release meet NULLs it never expected."""

from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, qualified


@register
class BanDropNotNull(SqlRule):
    code = "RH160"
    name = "ban-drop-not-null"
    severity = "medium"
    summary = "Make the code handle NULL in one release before dropping NOT NULL in a later one."
    references = ("squawk: ban-drop-not-null",)
    problem = """
        Dropping NOT NULL is instant, but from then on the column may hold NULL. Code of the
        release still running (and every reader downstream: reports, exports, other services)
        assumes it cannot, and fails or computes wrong results on the first NULL written.
        The downgrade cannot bring the constraint back once NULLs exist.
    """
    solution = """
        Ship code that tolerates NULL first; drop the constraint in a later release. To keep
        the downgrade possible, plan how NULLs will be filled (a default) before re-adding it.
    """
    alembic = """
        ```python
        def upgrade():
            op.alter_column("users", "phone", existing_type=sa.Text(), nullable=True)
        ```
        Keep it, but only after a release whose code reads `phone` as optional.
    """

    def check(self, stmt, state):
        node = stmt.node
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_DropNotNull and not state.is_new(node.relation):
                yield self.hit(f"column {cmd.name} of {qualified(node.relation)} drops NOT NULL: code still "
                               "running assumes it is never NULL", table=qualified(node.relation), column=cmd.name)
