"""RH112: ADD COLUMN ... NOT NULL without a default fails on a table that has rows."""

from pglast.enums import ConstrType

from ..base import register
from ..sqltools import SqlRule, column_defs, constraints_of, qualified


@register
class RequireDefaultForNotNullColumn(SqlRule):
    code = "RH112"
    name = "require-default-for-not-null-column"
    severity = "high"
    summary = "A NOT NULL column added to an existing table needs a default (or add it nullable, backfill, then constrain)."
    references = ("squawk: adding-required-field", "strong_migrations: add_column (null: false)")
    problem = """
        `ALTER TABLE t ADD COLUMN c ... NOT NULL` with no default fails with
        `column "c" contains null values` as soon as the table has a row: it passes on an
        empty development database and breaks the deploy in production.
    """
    solution = """
        Either give the column a constant default (instant on PostgreSQL 11+), or add it
        nullable, backfill it, then add the NOT NULL constraint safely (see RH113).
    """
    alembic = """
        ```python
        def upgrade():
            op.add_column("orders", sa.Column("status", sa.Text(), nullable=False,
                                              server_default="new"))
        ```
    """

    def check(self, stmt, state):
        for coldef, rel, existing in column_defs(stmt.node):
            if not existing or state.is_new(rel):
                continue
            not_null = coldef.is_not_null or constraints_of(coldef, ConstrType.CONSTR_NOTNULL) \
                or constraints_of(coldef, ConstrType.CONSTR_PRIMARY)
            has_value = (constraints_of(coldef, ConstrType.CONSTR_DEFAULT)
                         or constraints_of(coldef, ConstrType.CONSTR_IDENTITY)
                         or constraints_of(coldef, ConstrType.CONSTR_GENERATED)
                         or (coldef.typeName and coldef.typeName.names[-1].sval.lower()
                             in ("serial", "bigserial", "smallserial", "serial4", "serial8", "serial2")))
            if not_null and not has_value:
                yield self.hit(f"NOT NULL column {coldef.colname} is added to {qualified(rel)} without a default: "
                               "it fails if the table has any row",
                               table=qualified(rel), column=coldef.colname)
