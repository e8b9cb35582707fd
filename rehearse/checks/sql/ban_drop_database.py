"""RH119: a migration must never drop a database."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule


@register
class BanDropDatabase(SqlRule):
    code = "RH119"
    name = "ban-drop-database"
    severity = "critical"
    summary = "Never drop a database from a migration."
    references = ("squawk: ban-drop-database",)
    problem = """
        `DROP DATABASE` in a migration destroys a whole database with no way back; it is
        almost always a leftover from a local script.
    """
    solution = "Remove it from the migration; manage databases outside Alembic."
    alembic = "Delete the `op.execute(\"DROP DATABASE ...\")` call."

    def check(self, stmt, state):
        if isinstance(stmt.node, ast.DropdbStmt):
            yield self.hit(f"database {stmt.node.dbname} is dropped", database=stmt.node.dbname)
