"""RH110: ADD COLUMN with a volatile default rewrites the whole table."""

from pglast import ast
from pglast.enums import ConstrType

from ..base import register
from ..sqltools import SqlRule, constraints_of, qualified

# Functions whose result is fixed for a statement (immutable or stable): a default made of
# them is evaluated once and stored in the catalog, so ADD COLUMN stays instant (PG 11+).
STABLE_FUNCTIONS = {
    "now", "transaction_timestamp", "statement_timestamp", "current_timestamp", "localtimestamp",
    "current_date", "current_time", "localtime", "current_user", "session_user", "current_schema",
    "lower", "upper", "coalesce", "nullif", "greatest", "least", "concat", "to_json", "to_jsonb",
    "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array",
    "make_date", "make_timestamp", "make_timestamptz", "make_interval", "to_timestamp",
    "to_date", "to_char", "array_fill", "abs", "round", "length", "trim", "replace", "md5",
    "timezone", "date_trunc", "uuid_nil",
}
VOLATILE_FUNCTIONS = {"random", "clock_timestamp", "timeofday", "gen_random_uuid", "uuid_generate_v1",
                      "uuid_generate_v1mc", "uuid_generate_v4", "nextval", "txid_current", "uuidv4",
                      "uuidv7", "setseed"}


def volatile_calls(expr) -> list[str]:
    """Names of functions in an expression that may be volatile."""
    found: list[str] = []

    def visit(node):
        if isinstance(node, ast.FuncCall):
            fname = node.funcname[-1].sval.lower()
            if fname in VOLATILE_FUNCTIONS or fname not in STABLE_FUNCTIONS:
                found.append(fname)
        if isinstance(node, ast.Node):
            for attr in node:
                visit(getattr(node, attr))
        elif isinstance(node, tuple):
            for item in node:
                visit(item)

    visit(expr)
    return found


@register
class BanVolatileDefault(SqlRule):
    code = "RH110"
    name = "ban-volatile-default"
    severity = "high"
    summary = "Do not add a column whose default is volatile (random(), clock_timestamp(), gen_random_uuid()...)."
    references = ("squawk: adding-field-with-default", "strong_migrations: add_column_default_callable")
    problem = """
        Since PostgreSQL 11, `ADD COLUMN ... DEFAULT x` is instant when `x` is a constant or a
        stable expression. A *volatile* default (`gen_random_uuid()`, `random()`,
        `clock_timestamp()`, `nextval()`, or any function PostgreSQL cannot prove stable) must be
        computed per row, so PostgreSQL rewrites the whole table under an ACCESS EXCLUSIVE lock.
    """
    solution = """
        Add the column without a default (or with a constant one), set the volatile default
        in a separate `ALTER COLUMN ... SET DEFAULT` (that only affects new rows), then backfill
        existing rows in batches.
    """
    alembic = """
        ```python
        def upgrade():
            op.add_column("orders", sa.Column("public_id", sa.Uuid(), nullable=True))
            op.alter_column("orders", "public_id", server_default=sa.text("gen_random_uuid()"))
            # backfill in batches in a later revision or a script, then SET NOT NULL safely
        ```
    """

    def check(self, stmt, state):
        from ..sqltools import column_defs

        for coldef, rel, existing in column_defs(stmt.node):
            if not existing or state.is_new(rel):
                continue
            for con in constraints_of(coldef, ConstrType.CONSTR_DEFAULT):
                calls = volatile_calls(con.raw_expr)
                if calls:
                    yield self.hit(f"column {coldef.colname} is added to {qualified(rel)} with a default "
                                   f"calling {', '.join(sorted(set(calls)))}(), which may be volatile: "
                                   "the table is rewritten under an exclusive lock",
                                   table=qualified(rel), column=coldef.colname, functions=sorted(set(calls)))
