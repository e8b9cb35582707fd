"""RH143: prefer timestamptz to timestamp without time zone."""

from ..base import register
from ..sqltools import SqlRule, column_types, qualified, type_name


@register
class PreferTimestamptz(SqlRule):
    code = "RH143"
    name = "prefer-timestamptz"
    severity = "low"
    summary = "Use timestamptz (timestamp with time zone)."
    references = ("squawk: prefer-timestamptz", "squawk: prefer-timestamp-tz")
    problem = """
        `timestamp` (without time zone) stores a wall-clock reading with no zone: values
        written by servers or sessions in different zones cannot be compared, and daylight
        saving transitions make some values ambiguous.
    """
    solution = "Use `timestamptz`; it stores an instant and converts on display."
    alembic = "```python\nsa.Column(\"created_at\", sa.DateTime(timezone=True))\n```"

    def check(self, stmt, state):
        for column, typ, rel in column_types(stmt.node):
            if type_name(typ) == "timestamp":
                yield self.hit(f"column {qualified(rel)}.{column} is {type_name(typ)} without time zone; "
                               "prefer timestamptz", table=qualified(rel), column=column)
