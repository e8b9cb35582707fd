"""RH302: a merge revision (informational)."""

from ..base import register
from .scan import GraphRule


@register
class NoteMergeRevision(GraphRule):
    code = "RH302"
    name = "note-merge-revision"
    severity = "info"
    summary = "A merge point joins branches; the order of the merged revisions is not fixed."
    problem = """
        A merge revision joins two branches. Alembic may apply the branches' revisions in
        either order, so they must not depend on each other; and downgrading through a merge
        needs care. Rehearse applies them in the order Alembic chose this time.
    """
    solution = "Make sure the merged branches touch different objects, or chain them instead of merging."
    alembic = "Check `alembic history` around the merge; use `depends_on` to force an order when one exists."

    def check(self, graph):
        for rev in graph.revisions:
            if len(rev.down_revisions) > 1:
                yield rev.revision, rev.path, self.hit(
                    f"revision {rev.revision} merges {', '.join(rev.down_revisions)}", parents=list(rev.down_revisions))
