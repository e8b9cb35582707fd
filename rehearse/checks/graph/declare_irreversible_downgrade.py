"""RH305: a downgrade() that only raises: an explicit irreversible revision."""

from ..base import register
from .scan import GraphRule


@register
class DeclareIrreversibleDowngrade(GraphRule):
    code = "RH305"
    name = "declare-irreversible-downgrade"
    severity = "low"
    summary = "This revision declares itself irreversible; rollback stops here."
    problem = """
        `downgrade()` only raises. That is honest, but it means a release containing this
        revision cannot be rolled back with Alembic: the rollback plan must be a backup
        restore or a forward fix.
    """
    solution = "Keep irreversible revisions small and separate; plan the rollback (backup, forward fix) before deploying."
    alembic = "Split the irreversible part (e.g. dropping data) into its own revision released after the rest."

    def check(self, graph):
        for rev in graph.revisions:
            if rev.downgrade == "raises":
                yield rev.revision, f"{rev.path}:{rev.downgrade_line}", self.hit(
                    f"revision {rev.revision}'s downgrade() only raises: it cannot be rolled back", file=rev.path)
