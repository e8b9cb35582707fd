"""RH100: SQL that PostgreSQL's parser rejects is a finding, and linting goes on with the rest."""

from ..base import register
from ..sqltools import SqlRule


@register
class RequireValidSyntax(SqlRule):
    code = "RH100"
    name = "require-valid-syntax"
    severity = "high"
    on_unparsed = True
    summary = "Fix the syntax error: PostgreSQL would reject this statement and the migration would stop here."
    references = ("squawk: syntax-error",)
    problem = """
        The statement does not parse with PostgreSQL's own parser (pglast), so the migration
        fails when it reaches it, possibly halfway through a revision that runs outside a
        transaction. No other rule can judge it either: an unparsable statement silently
        skipped would hide whatever it does.
    """
    solution = """
        Fix the statement (the message quotes the parser's error and where it is). If it is
        valid for a newer PostgreSQL than the parser knows, say so with
        `-- rehearse-ignore: RH100` above it.
    """
    alembic = """
        Raw SQL is where this happens: `op.execute("ALTER TABLE t ADD COLUMNN x int")`.
        Prefer the `op.*` helpers, which render SQL for the dialect, and keep raw SQL for what
        they cannot express.
    """

    def check(self, stmt, state):
        if stmt.node is None and stmt.parse_error:
            yield self.hit(f"PostgreSQL cannot parse this statement: {stmt.parse_error}", parser_error=stmt.parse_error)
