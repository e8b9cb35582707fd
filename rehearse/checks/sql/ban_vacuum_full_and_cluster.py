"""RH152: VACUUM FULL and CLUSTER rewrite the table under an ACCESS EXCLUSIVE lock."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule, has_option, qualified


@register
class BanVacuumFullAndCluster(SqlRule):
    code = "RH152"
    name = "ban-vacuum-full-and-cluster"
    severity = "critical"
    summary = "Never run VACUUM FULL or CLUSTER in a migration."
    references = ("squawk: prefer-repack",)
    problem = """
        `VACUUM FULL` and `CLUSTER` copy the whole table and rebuild its indexes while holding
        an ACCESS EXCLUSIVE lock: the table is unavailable for minutes to hours. (`VACUUM`
        also cannot run inside a transaction.)
    """
    solution = "Use plain `VACUUM`/`ANALYZE`, or `pg_repack` outside migrations, in a maintenance window."
    alembic = "Remove the statement from the migration; schedule maintenance separately."

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.VacuumStmt) and has_option(node.options, "full"):
            tables = [qualified(v.relation) for v in node.rels or () if v.relation is not None]
            yield self.hit(f"VACUUM FULL rewrites {', '.join(tables) or 'every table'} under an exclusive lock",
                           tables=tables)
        elif isinstance(node, ast.ClusterStmt):
            table = qualified(node.relation) if node.relation is not None else "every clustered table"
            yield self.hit(f"CLUSTER rewrites {table} under an exclusive lock", table=table)
