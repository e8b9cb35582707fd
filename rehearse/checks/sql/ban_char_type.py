"""RH144: char(n) pads with spaces; use text."""

from ..base import register
from ..sqltools import SqlRule, column_types, qualified, type_name


@register
class BanCharType(SqlRule):
    code = "RH144"
    name = "ban-char-type"
    severity = "low"
    summary = "Use text, not char(n)."
    references = ("squawk: ban-char-field",)
    problem = """
        `char(n)` pads values with spaces, compares with surprising trailing-space rules and
        is no faster than `text`.
    """
    solution = "Use `text` (with a CHECK constraint if the length matters)."
    alembic = "```python\nsa.Column(\"country\", sa.Text())\n```"

    def check(self, stmt, state):
        for column, typ, rel in column_types(stmt.node):
            if type_name(typ) in ("bpchar", "char", "character"):
                yield self.hit(f"column {qualified(rel)}.{column} is char(n); use text",
                               table=qualified(rel), column=column)
