"""RH162: the same column assigned twice in one statement."""

from collections import Counter

from pglast import ast
from pglast.enums import AlterTableType

from ..base import register
from ..sqltools import SqlRule, alter_cmds, qualified


def _targets(targets) -> list[str]:
    """Assigned names; `a.x` and `a[1]` assign parts of a and count apart, but `a` with `a.x` clash."""
    whole, parts = [], []
    for target in targets or ():
        if getattr(target, "name", None):
            if target.indirection:
                parts.append((target.name, "".join(str(i) for i in target.indirection)))
            else:
                whole.append(target.name)
    out = whole + [f"{name}{path}" for name, path in parts]
    out += [name for name, _ in dict.fromkeys(parts) if name in whole]  # the whole and a part of it
    return out


def _select_names(select) -> list[str]:
    """Output column names a query spells out (aliases, or a bare column reference's name)."""
    out = []
    for target in getattr(select, "targetList", None) or ():
        if target.name:
            out.append(target.name)
        elif isinstance(target.val, ast.ColumnRef) and isinstance(target.val.fields[-1], ast.String):
            out.append(target.val.fields[-1].sval)
    return out


def _assigned(node):
    """(table, column names assigned or defined) for every statement that names columns."""
    if isinstance(node, ast.UpdateStmt):
        yield qualified(node.relation), _targets(node.targetList)
    elif isinstance(node, ast.InsertStmt):
        yield qualified(node.relation), _targets(node.cols)
        if node.onConflictClause is not None:
            yield qualified(node.relation), _targets(node.onConflictClause.targetList)
    elif isinstance(node, ast.MergeStmt):
        for clause in node.mergeWhenClauses or ():
            yield qualified(node.relation), _targets(clause.targetList)
    elif isinstance(node, ast.CreateForeignTableStmt):
        yield qualified(node.base.relation), [e.colname for e in node.base.tableElts or ()
                                              if isinstance(e, ast.ColumnDef)]
    elif isinstance(node, ast.CreateStmt):
        yield qualified(node.relation), [e.colname for e in node.tableElts or () if isinstance(e, ast.ColumnDef)]
    elif isinstance(node, ast.ViewStmt):
        aliases = [a.sval for a in node.aliases or ()]
        yield qualified(node.view), aliases or _select_names(node.query)
    elif isinstance(node, ast.SelectStmt) and node.intoClause is not None:
        yield qualified(node.intoClause.rel), _select_names(node)
    elif isinstance(node, ast.CreateTableAsStmt):
        yield qualified(node.into.rel), [c.sval for c in node.into.colNames or ()] or _select_names(node.query)
    elif isinstance(node, ast.AlterTableStmt):
        for subtype in (AlterTableType.AT_AlterColumnType, AlterTableType.AT_ColumnDefault,
                        AlterTableType.AT_SetNotNull, AlterTableType.AT_DropNotNull, AlterTableType.AT_AddColumn):
            names = [c.name or getattr(c.def_, "colname", None) for c in alter_cmds(node) if c.subtype == subtype]
            yield qualified(node.relation), [n for n in names if n]


@register
class BanDuplicateColumnAssignment(SqlRule):
    code = "RH162"
    name = "ban-duplicate-column-assignment"
    severity = "medium"
    summary = "Assign each column once per statement; the duplicate is an error or a silent overwrite."
    references = ("squawk: ban-duplicate-column-assignments",)
    problem = """
        `UPDATE t SET a = 1, a = 2` (also in INSERT ... ON CONFLICT and MERGE), a column defined
        twice in CREATE TABLE, a view or `SELECT INTO` with two output columns of one name, and `INSERT INTO t (a, a)` fail with "multiple assignments
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
