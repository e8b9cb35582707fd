"""RH120: adding a serial or identity column to an existing table rewrites it."""

from pglast.enums import ConstrType

from ..base import register
from ..sqltools import SqlRule, column_defs, constraints_of, qualified, type_name

SERIALS = {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"}


@register
class BanAddSerialColumn(SqlRule):
    code = "RH120"
    name = "ban-add-serial-column"
    severity = "high"
    summary = "Do not add auto-incrementing (serial / identity) columns to existing tables."
    references = ("strong_migrations: add_column_auto_incrementing", "squawk: adding-serial-primary-key-field")
    problem = """
        A `serial` or `GENERATED ... AS IDENTITY` column added to an existing table needs a
        fresh value for every row: PostgreSQL rewrites the whole table under an ACCESS
        EXCLUSIVE lock.
    """
    solution = """
        Add a nullable `bigint` column, create a sequence and set it as the default (new rows
        only), backfill existing rows in batches, then add NOT NULL safely.
    """
    alembic = """
        ```python
        def upgrade():
            op.execute("CREATE SEQUENCE orders_number_seq")
            op.add_column("orders", sa.Column("number", sa.BigInteger()))
            op.alter_column("orders", "number", server_default=sa.text("nextval('orders_number_seq')"))
        ```
    """

    def check(self, stmt, state):
        for coldef, rel, existing in column_defs(stmt.node):
            if not existing or state.is_new(rel):
                continue
            if type_name(coldef.typeName) in SERIALS or constraints_of(coldef, ConstrType.CONSTR_IDENTITY):
                yield self.hit(f"auto-incrementing column {coldef.colname} is added to {qualified(rel)}: "
                               "the table is rewritten under an exclusive lock",
                               table=qualified(rel), column=coldef.colname)
