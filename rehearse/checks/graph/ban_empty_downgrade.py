"""RH304: a downgrade() that does nothing."""

from ..base import register
from .scan import GraphRule


@register
class BanEmptyDowngrade(GraphRule):
    code = "RH304"
    name = "ban-empty-downgrade"
    severity = "high"
    summary = "A downgrade() that only passes pretends to roll back."
    problem = """
        `downgrade()` is just `pass`: Alembic marks the revision as rolled back while every
        change it made stays. The next upgrade then fails ("already exists"), or the
        application runs against a schema it does not expect. Autogenerate leaves `pass`
        when it detected nothing, so this often hides a hand-written upgrade.
    """
    solution = "Write the reverse operations, or raise an error explaining why the revision is irreversible."
    alembic = """
        ```python
        def downgrade():
            raise NotImplementedError("irreversible: drops legacy data, restore from backup")
        ```
    """

    def check(self, graph):
        for rev in graph.revisions:
            if rev.downgrade == "pass" and rev.upgrade not in ("pass", "missing"):  # no-op upgrade: nothing to undo
                yield rev.revision, f"{rev.path}:{rev.downgrade_line}", self.hit(
                    f"revision {rev.revision}'s downgrade() does nothing", file=rev.path)
