"""RH301: a migration history with several heads cannot be upgraded to "head"."""

from ..base import register
from .scan import GraphRule


@register
class BanMultipleHeads(GraphRule):
    code = "RH301"
    name = "ban-multiple-heads"
    severity = "high"
    summary = "Merge branches so the history has one head."
    references = ("pytest-alembic: test_single_head_revision",)
    problem = """
        Two revisions share a parent and nothing merges them (typically two feature branches
        each adding a migration). `alembic upgrade head` refuses to run ("Multiple head
        revisions are present"), so the deploy fails.
    """
    solution = "Create a merge revision (`alembic merge heads`), or rebase one revision onto the other."
    alembic = "`alembic merge -m \"merge heads\" heads` creates a revision whose down_revision is the tuple of heads."

    def check(self, graph):
        heads = graph.heads()
        if len(heads) > 1:
            by_id = graph.by_id()
            yield None, None, self.hit(f"the history has {len(heads)} heads: {', '.join(heads)}",
                                       heads=heads, files=[by_id[h].path for h in heads])
