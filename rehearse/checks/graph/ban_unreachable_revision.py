"""RH306: a revision that cannot be reached from the base."""

from ..base import register
from .scan import GraphRule


@register
class BanUnreachableRevision(GraphRule):
    code = "RH306"
    name = "ban-unreachable-revision"
    severity = "high"
    summary = "Every revision must chain back to a base revision."
    problem = """
        The revision's `down_revision` names a revision that does not exist (a file deleted or
        renamed, a typo, a branch not merged), so neither it nor its descendants can be
        reached by upgrading from an empty database; Alembic refuses the directory.
    """
    solution = "Point `down_revision` at an existing revision, or restore the missing file."
    alembic = "Compare with `alembic history`; fix `down_revision = \"...\"` in the module."

    def check(self, graph):
        by_id = graph.by_id()
        reachable = graph.reachable()
        for rev in graph.revisions:
            if rev.revision in reachable:
                continue
            missing = [d for d in rev.down_revisions if d not in by_id]
            why = (f"its down_revision {', '.join(missing)} does not exist" if missing
                   else "an ancestor is unreachable")
            yield rev.revision, rev.path, self.hit(f"revision {rev.revision} cannot be reached from base: {why}",
                                                   missing=missing, file=rev.path)
