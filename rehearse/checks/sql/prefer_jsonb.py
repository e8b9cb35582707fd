"""RH140: prefer jsonb to json."""

from ..base import register
from ..sqltools import SqlRule, column_types, qualified, type_name


@register
class PreferJsonb(SqlRule):
    code = "RH140"
    name = "prefer-jsonb"
    severity = "low"
    summary = "Use jsonb, not json."
    references = ("strong_migrations: add_column_json",)
    problem = """
        `json` stores text: it has no equality operator (so `SELECT DISTINCT` and some
        `UNION` queries fail on tables with a json column), no GIN indexing, and is re-parsed
        on every access.
    """
    solution = "Use `jsonb` for new columns; convert existing json columns with the add-column, backfill, swap pattern."
    alembic = """
        ```python
        from sqlalchemy.dialects.postgresql import JSONB
        op.add_column("events", sa.Column("payload", JSONB()))
        ```
    """

    def check(self, stmt, state):
        for column, typ, rel in column_types(stmt.node):
            if type_name(typ) == "json":
                yield self.hit(f"column {qualified(rel)}.{column} is json; jsonb is indexable and comparable",
                               table=qualified(rel), column=column)
