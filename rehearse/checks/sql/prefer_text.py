"""RH142: prefer text (with a CHECK if needed) to varchar(n)."""

from ..base import register
from ..sqltools import SqlRule, column_types, qualified, type_name, typmods


@register
class PreferText(SqlRule):
    code = "RH142"
    name = "prefer-text"
    severity = "low"
    summary = "Use text (plus a CHECK on length if needed) rather than varchar(n)."
    references = ("squawk: prefer-text-field",)
    problem = """
        `varchar(n)` is stored exactly like `text`; the only difference is the length limit,
        and shrinking that limit later is a rewrite under an ACCESS EXCLUSIVE lock.
    """
    solution = """
        Use `text`; when a limit matters, add `CHECK (char_length(col) <= n) NOT VALID` and
        validate it, which can be changed without a rewrite.
    """
    alembic = "```python\nsa.Column(\"name\", sa.Text())\n```"

    def check(self, stmt, state):
        for column, typ, rel in column_types(stmt.node):
            if type_name(typ) == "varchar" and typmods(typ):
                yield self.hit(f"column {qualified(rel)}.{column} is varchar({typmods(typ)[0]}); prefer text",
                               table=qualified(rel), column=column)
