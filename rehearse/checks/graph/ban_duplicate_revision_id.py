"""RH307: two revision files declare the same revision id."""

from ..base import register
from .scan import GraphRule


@register
class BanDuplicateRevisionId(GraphRule):
    code = "RH307"
    name = "ban-duplicate-revision-id"
    severity = "critical"
    summary = "Revision ids must be unique."
    problem = """
        Two modules declare the same `revision` id (usually a copied file). Alembic keeps
        one of them silently ("Revision ... is present more than once" is only a warning),
        so one migration never runs.
    """
    solution = "Give the copy a fresh id (`alembic revision` generates one) and fix its down_revision chain."
    alembic = "Regenerate: `alembic revision -m \"...\"`, move the operations over, delete the copy."

    def check(self, graph):
        seen: dict[str, list[str]] = {}
        for rev in graph.revisions:
            seen.setdefault(rev.revision, []).append(rev.path)
        for rid, paths in seen.items():
            if len(paths) > 1:
                yield rid, paths[0], self.hit(f"revision id {rid} is declared by {len(paths)} files", files=paths)
