"""RH121: adding (or redefining) a STORED generated column rewrites the table."""

from pglast.enums import AlterTableType, ConstrType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, column_defs, constraints_of, qualified


@register
class BanStoredGeneratedColumn(SqlRule):
    code = "RH121"
    name = "ban-stored-generated-column"
    severity = "high"
    summary = "Do not add GENERATED ... STORED columns to existing tables; compute them in a view, trigger or backfill."
    references = ("strong_migrations: add_column_generated_stored", "squawk: adding-field-with-default (STORED generated column)")
    problem = """
        `ADD COLUMN ... GENERATED ALWAYS AS (...) STORED` (and PostgreSQL 17's
        `ALTER COLUMN ... SET EXPRESSION`) computes the value for every existing row: a full
        rewrite under an ACCESS EXCLUSIVE lock.
    """
    solution = """
        Add a plain nullable column filled by a trigger for new rows and a batched backfill
        for old ones, or compute the value in a view or in queries.
    """
    alembic = """
        ```python
        def upgrade():
            op.add_column("orders", sa.Column("total_cents", sa.BigInteger()))
            # trigger for new rows + batched UPDATE for old rows
        ```
    """

    def check(self, stmt, state):
        for coldef, rel, existing in column_defs(stmt.node):
            if existing and not state.is_new(rel) and constraints_of(coldef, ConstrType.CONSTR_GENERATED):
                yield self.hit(f"stored generated column {coldef.colname} is added to {qualified(rel)}: "
                               "the table is rewritten", table=qualified(rel), column=coldef.colname)
        node = stmt.node
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_SetExpression and not state.is_new(node.relation):
                yield self.hit(f"the expression of {qualified(node.relation)}.{cmd.name} changes: "
                               "the table is rewritten", table=qualified(node.relation), column=cmd.name)
