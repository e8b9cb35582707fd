"""RH303: a revision module without a downgrade() function."""

from ..base import register
from .scan import GraphRule


@register
class RequireDowngrade(GraphRule):
    code = "RH303"
    name = "require-downgrade"
    severity = "medium"
    summary = "Every revision should define downgrade()."
    references = ("pytest-alembic: test_up_down_consistency",)
    problem = """
        The module has no `downgrade()` function: `alembic downgrade` crashes with an
        AttributeError at this revision, so no rollback past it is possible.
    """
    solution = "Write the downgrade, or raise an explicit error that says why it cannot exist (RH305)."
    alembic = """
        ```python
        def downgrade():
            op.drop_column("orders", "note")
        ```
    """

    def check(self, graph):
        for rev in graph.revisions:
            if rev.downgrade == "missing":
                yield rev.revision, rev.path, self.hit(f"revision {rev.revision} has no downgrade() function",
                                                       file=rev.path)
