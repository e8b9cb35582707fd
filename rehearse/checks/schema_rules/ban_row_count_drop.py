"""RH402: a table that still exists lost rows across the upgrade."""

from typing import ClassVar

from ..base import Rule, register


@register
class BanRowCountDrop(Rule):
    code = "RH402"
    name = "ban-row-count-drop"
    severity = "high"
    kind: ClassVar[str] = "schema"
    summary = "A table kept by the upgrade has fewer rows afterwards."
    problem = """
        Rows were counted before and after the upgrade; a table that still exists has fewer
        rows afterwards. Unless the migration meant to delete them (a documented cleanup),
        this is data loss: a cascading delete, a bad `DELETE`/`TRUNCATE`, or a copy-and-swap
        that missed rows.
    """
    solution = "Check the migration's DELETE/TRUNCATE/INSERT ... SELECT statements; accept it in the baseline if intended."
    alembic = "Make data removals explicit and reviewable, e.g. in a dedicated revision whose message says so."
