"""RH141: ids should be bigint: integer keys run out at 2^31."""

from pglast.enums import ConstrType

from ..base import register
from ..sqltools import (
    SqlRule,
    column_defs,
    column_types,
    constraints_of,
    qualified,
    type_name,
)

SMALL_INTS = {"int4", "int2", "int", "integer", "smallint", "serial", "serial4", "smallserial", "serial2"}


@register
class PreferBigintIds(SqlRule):
    code = "RH141"
    name = "prefer-bigint-ids"
    severity = "medium"
    summary = "Use bigint (bigserial / bigint identity) for ids and the columns referencing them."
    references = ("squawk: prefer-bigint-over-int", "squawk: prefer-bigint-over-smallint", "squawk: prefer-big-int")
    problem = """
        An `integer` id overflows at 2,147,483,647; when it does, every insert fails, and
        changing the type then is a full rewrite of the table and of every table that
        references it (RH114).
    """
    solution = "Use `bigint` for primary keys, serial/identity columns and foreign key columns (`*_id`)."
    alembic = """
        ```python
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True)
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("users.id"))
        ```
    """

    def check(self, stmt, state):
        keys = {}
        for coldef, rel, _ in column_defs(stmt.node):
            keys[coldef.colname] = bool(constraints_of(coldef, ConstrType.CONSTR_PRIMARY)
                                        or constraints_of(coldef, ConstrType.CONSTR_IDENTITY)
                                        or constraints_of(coldef, ConstrType.CONSTR_FOREIGN))
        for column, typ, rel in column_types(stmt.node):
            name = type_name(typ)
            if name not in SMALL_INTS or column is None:
                continue
            idish = keys.get(column) or column == "id" or column.endswith("_id") or "serial" in name
            if idish:
                yield self.hit(f"id column {qualified(rel)}.{column} is {name}; it overflows at 2^31 (use bigint)",
                               table=qualified(rel), column=column, type=name)
