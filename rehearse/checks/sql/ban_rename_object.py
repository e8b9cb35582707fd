"""RH126: renaming an index, constraint, type, view, function, sequence or schema."""

from pglast import ast
from pglast.enums import ObjectType

from ..base import register
from ..sqltools import SqlRule, names, qualified

# Tables and columns have their own rules (RH117, RH116); enum values too (RH145).
_OWN_RULES = {ObjectType.OBJECT_TABLE, ObjectType.OBJECT_COLUMN}


def _old_name(node) -> str:
    if node.subname:
        return f"{qualified(node.relation)}.{node.subname}" if node.relation is not None else node.subname
    if node.relation is not None:
        return qualified(node.relation)
    obj = node.object
    if isinstance(obj, ast.ObjectWithArgs):
        return ".".join(names(obj.objname))
    if isinstance(obj, ast.TypeName):
        return ".".join(names(obj.names))
    if isinstance(obj, ast.String):
        return obj.sval
    return ".".join(names(obj)) if obj is not None else "?"


@register
class BanRenameObject(SqlRule):
    code = "RH126"
    name = "ban-rename-object"
    severity = "medium"
    summary = "Renaming a view, function, type, sequence, schema, index or constraint breaks code that names it."
    references = ("squawk: renaming-table (other objects)",)
    problem = """
        Code calls views, functions, sequences and types by name; Alembic migrations and
        SQLAlchemy models name indexes and constraints (`op.drop_constraint("name", ...)`,
        naming conventions). A rename is instant, but every caller of the running release,
        and every later migration or downgrade written against the old name, fails. Renaming
        an index or constraint also takes a lock on its table.
    """
    solution = """
        For callable objects, create the new one next to the old and drop the old in a later
        release. For indexes and constraints, make sure the models' naming convention and
        every later migration use the new name, and the downgrade renames it back.
    """
    alembic = """
        ```python
        def upgrade():
            op.execute("ALTER INDEX ix_orders_cust RENAME TO ix_orders_customer_id")

        def downgrade():
            op.execute("ALTER INDEX ix_orders_customer_id RENAME TO ix_orders_cust")
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if not isinstance(node, ast.RenameStmt) or node.renameType in _OWN_RULES:
            return
        if node.relation is not None and state.is_new(node.relation):
            return
        kind = node.renameType.name.removeprefix("OBJECT_").lower().replace("tabconstraint", "constraint")
        old = _old_name(node)
        if kind == "index" and old.split(".")[-1].lower() in state.created:
            return
        yield self.hit(f"{kind} {old} is renamed to {node.newname}: code and later migrations naming it fail",
                       kind=kind, object=old, new_name=node.newname)
