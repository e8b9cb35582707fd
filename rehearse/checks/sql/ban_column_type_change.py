"""RH114: ALTER COLUMN TYPE usually rewrites the table under an ACCESS EXCLUSIVE lock."""

from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, qualified, type_name, typmods


@register
class BanColumnTypeChange(SqlRule):
    code = "RH114"
    name = "ban-column-type-change"
    severity = "high"
    summary = "Change a column's type by adding a new column, backfilling and switching over."
    references = ("squawk: changing-column-type", "strong_migrations: change_column")
    problem = """
        `ALTER COLUMN ... TYPE` rewrites the table and rebuilds its indexes while holding an
        ACCESS EXCLUSIVE lock, unless the change is binary-compatible (e.g. `varchar(n)` to
        `text` or to a longer `varchar`). `int` to `bigint` is a full rewrite. A `USING`
        cast can also fail on existing values halfway through.
    """
    solution = """
        Add a new column with the new type, keep both in sync (trigger or application),
        backfill in batches, switch reads, then drop the old column. The measured rehearsal
        (RH202) shows whether this change rewrote the table.
    """
    alembic = """
        ```python
        def upgrade():
            op.add_column("events", sa.Column("id_new", sa.BigInteger()))
            # trigger + batched backfill, then swap names in a short transaction
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        for cmd in alter_cmds(node):
            if cmd.subtype != AlterTableType.AT_AlterColumnType or state.is_new(node.relation):
                continue
            new = type_name(cmd.def_.typeName)
            if new == "text" or (new == "varchar" and not typmods(cmd.def_.typeName)):
                # binary-compatible from varchar(n): no rewrite; from other types: a rewrite
                yield self.hit(f"changing the type of {qualified(node.relation)}.{cmd.name} to {new} is instant "
                               "from varchar, but rewrites the table from any other type",
                               severity="low", table=qualified(node.relation), column=cmd.name, new_type=new)
                continue
            yield self.hit(f"changing the type of {qualified(node.relation)}.{cmd.name} to {new} may rewrite "
                           "the table under an ACCESS EXCLUSIVE lock",
                           table=qualified(node.relation), column=cmd.name, new_type=new)
