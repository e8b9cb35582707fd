"""RH129: ALTER ... SET SCHEMA moves an object out from under every query that names it."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule, names, qualified


@register
class BanSetSchema(SqlRule):
    code = "RH129"
    name = "ban-set-schema"
    severity = "high"
    summary = "Moving an object to another schema is a rename: create it anew, or leave a view behind."
    references = ()
    problem = """
        `ALTER TABLE t SET SCHEMA archive` (or a type, view, function, sequence) is a rename:
        queries of the running release that name `public.t`, or rely on `search_path` to find
        `t`, fail at once. On a table it takes an ACCESS EXCLUSIVE lock, and queues behind
        long queries like any DDL.
    """
    solution = """
        Release code that names the new schema first (or put both schemas on `search_path`),
        or move the object and leave a view under the old name until no code uses it.
    """
    alembic = """
        ```python
        def upgrade():
            op.execute("ALTER TABLE audit_log SET SCHEMA archive")
            op.execute("CREATE VIEW public.audit_log AS SELECT * FROM archive.audit_log")
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if not isinstance(node, ast.AlterObjectSchemaStmt):
            return
        if node.relation is not None:
            if state.is_new(node.relation):
                return
            name = qualified(node.relation)
        else:
            obj = node.object
            name = ".".join(names(getattr(obj, "objname", None) or getattr(obj, "names", None) or obj)) \
                if obj is not None else "?"
        yield self.hit(f"{name} moves to schema {node.newschema}: queries naming it the old way fail",
                       object=name, schema=node.newschema)
