"""RH162: the same column assigned twice in one statement."""

from collections import Counter

from pglast import ast
from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, qualified


def _assigned(node):
    """(table, column names assigned) for UPDATE SET, INSERT's column list and ALTER TABLE."""
    if isinstance(node, ast.UpdateStmt):
        yield qualified(node.relation), [t.name for t in node.targetList or () if t.name]
    elif isinstance(node, ast.InsertStmt):
        yield qualified(node.relation), [t.name for t in node.cols or () if t.name]
    elif isinstance(node, ast.AlterTableStmt):
        for subtype in (AlterTableType.AT_AlterColumnType, AlterTableType.AT_ColumnDefault,
                        AlterTableType.AT_SetNotNull, AlterTableType.AT_DropNotNull):
            yield qualified(node.relation), [c.name for c in alter_cmds(node) if c.subtype == subtype and c.name]


@register
class BanDuplicateColumnAssignment(SqlRule):
    code = "RH162"
    name = "ban-duplicate-column-assignment"
    severity = "medium"
    summary = "Assign each column once per statement; the duplicate is an error or a silent overwrite."
    references = ("squawk: ban-duplicate-column-assignments",)
    problem = """
        `UPDATE t SET a = 1, a = 2` and `INSERT INTO t (a, a)` fail with "multiple assignments
        to same column"; `ALTER TABLE t ALTER a TYPE int, ALTER a TYPE bigint` fails the same
        way, or (for defaults) keeps only one of the two. Either the migration stops halfway,
        or it does something other than what one of the lines says: almost always a
        copy-paste slip that hides the intended change.
    """
    solution = """
        Keep one assignment per column and check which value was meant.
    """
    alembic = """
        Usually raw SQL in `op.execute(...)`, or two `op.alter_column` options inside one
        `batch_alter_table` that touch the same column: merge them into one call.
    """

    def check(self, stmt, state):
        for table, columns in _assigned(stmt.node):
            for column, count in Counter(columns).items():
                if count > 1:
                    yield self.hit(f"column {column} of {table} is assigned {count} times in one statement",
                                   table=table, column=column)
