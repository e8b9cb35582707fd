"""RH125: dropping a type, view, function or sequence breaks what still uses it."""

from pglast import ast
from pglast.enums import ObjectType

from ..base import register
from ..sqltools import SqlRule, names

_KINDS = {
    ObjectType.OBJECT_TYPE: "type", ObjectType.OBJECT_DOMAIN: "domain", ObjectType.OBJECT_VIEW: "view",
    ObjectType.OBJECT_MATVIEW: "materialized view", ObjectType.OBJECT_FUNCTION: "function",
    ObjectType.OBJECT_PROCEDURE: "procedure", ObjectType.OBJECT_ROUTINE: "routine",
    ObjectType.OBJECT_SEQUENCE: "sequence", ObjectType.OBJECT_TRIGGER: "trigger",
    ObjectType.OBJECT_SCHEMA: "schema",
}


def _name(obj) -> str:
    if isinstance(obj, ast.ObjectWithArgs):
        return ".".join(names(obj.objname))
    if isinstance(obj, ast.TypeName):
        return ".".join(names(obj.names))
    if isinstance(obj, ast.String):
        return obj.sval
    return ".".join(names(obj))


@register
class BanDropSchemaObject(SqlRule):
    code = "RH125"
    name = "ban-drop-schema-object"
    severity = "medium"
    summary = "Stop using a type, view, function or sequence in code first; drop it in a later release."
    references = ()
    problem = """
        A view, function, type or sequence is part of the interface the running release (and
        reports, other services, triggers) calls. Dropping it is instant and the next call
        fails; with CASCADE it silently takes dependent objects (columns of the type, views on
        the view, defaults using the sequence) with it. The downgrade can recreate the
        definition, not what CASCADE removed.
    """
    solution = """
        Release code that no longer uses the object, check `pg_depend` for dependents, drop it
        in a later migration without CASCADE, and recreate it fully in the downgrade.
    """
    alembic = """
        ```python
        def upgrade():
            op.execute("DROP VIEW IF EXISTS active_customers")  # after no code reads it

        def downgrade():
            op.execute("CREATE VIEW active_customers AS SELECT * FROM customers WHERE active")
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.DropStmt) and node.removeType in _KINDS:
            kind = _KINDS[node.removeType]
            for obj in node.objects or ():
                name = _name(obj)
                if name.split(".")[-1].lower() in state.created:
                    continue
                cascade = " with CASCADE (dependents go too)" if node.behavior == 1 else ""
                yield self.hit(f"{kind} {name} is dropped{cascade}: whatever still uses it fails",
                               kind=kind, object=name)
