"""Parsing executed SQL with pglast, and the per-revision state static rules read.

Static rules see one statement at a time, but some verdicts depend on what came before
in the same revision (a ``SET lock_timeout``, a table created a moment ago, an open
transaction). :class:`LintState` carries that; the runner updates it after every statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType, ObjectType, TransactionStmtKind
from pglast.parser import ParseError

from ..model import StatementTrace
from .base import Hit, Rule


@dataclass
class Statement:
    """One parsed SQL statement (``node`` is None when pglast cannot parse it)."""

    sql: str
    node: Any
    trace: StatementTrace | None = None
    parse_error: str | None = None
    start: int = 0  # offset of the statement in the text it was parsed from

    @property
    def kind(self) -> str:
        return type(self.node).__name__ if self.node is not None else "Unparsed"


@dataclass
class LintState:
    """What static rules know about the revision so far."""

    server_version_num: int = 150000
    traced: bool = False  # statements come from a traced run (Alembic's own BEGIN/COMMIT are absent)
    in_transaction: bool = False  # the statement being checked runs inside a transaction
    depth: int = 0  # explicit BEGINs seen in SQL text
    lock_timeout: bool = False
    statement_timeout: bool = False
    local_timeouts: set[str] = field(default_factory=set)  # SET LOCAL ones end with the transaction
    created: set[str] = field(default_factory=set)  # relations created in this revision (bare names)
    validated: set[str] = field(default_factory=set)  # tables with a constraint validated earlier
    exclusive: list[str] = field(default_factory=list)  # tables AccessExclusive-locked in this transaction
    exclusive_reported: bool = False
    reported: set[str] = field(default_factory=set)  # rule codes that report once per revision

    def is_new(self, relation: Any) -> bool:
        return relation is not None and bare(relation) in self.created


def parse(sql: str) -> list[Statement]:
    """Split and parse SQL text; unparsable text becomes one Statement with ``parse_error``."""
    try:
        raws = parse_sql(sql)
    except ParseError as exc:
        return [Statement(sql=sql, node=None, parse_error=str(exc))]
    out = []
    for raw in raws:
        start = raw.stmt_location or 0
        text = sql[start: start + raw.stmt_len] if raw.stmt_len else sql[start:]
        out.append(Statement(sql=text.strip().rstrip(";").strip(), node=raw.stmt, start=start))
    return out


# --- small AST helpers ---------------------------------------------------------------------


def qualified(rangevar: Any) -> str:
    if rangevar is None:
        return "?"
    if getattr(rangevar, "schemaname", None):
        return f"{rangevar.schemaname}.{rangevar.relname}"
    return rangevar.relname


def bare(relation: Any) -> str:
    name = relation if isinstance(relation, str) else relation.relname
    return name.split(".")[-1].strip('"').lower()


def names(seq: Any) -> list[str]:
    return [getattr(n, "sval", str(n)) for n in (seq or ())]


def type_name(typ: Any) -> str:
    """Lower-case base type name without pg_catalog, e.g. 'int4', 'varchar', 'serial'."""
    if typ is None:
        return ""
    return names(typ.names)[-1].lower()


def typmods(typ: Any) -> list[Any]:
    out = []
    for mod in typ.typmods or ():
        val = getattr(mod, "val", None)
        out.append(getattr(val, "ival", getattr(val, "sval", None)))
    return out


def is_array(typ: Any) -> bool:
    return bool(getattr(typ, "arrayBounds", None))


def constraints_of(coldef: Any, kind: ConstrType) -> list[Any]:
    return [c for c in (coldef.constraints or ()) if c.contype == kind]


def alter_cmds(node: Any) -> list[Any]:
    return list(node.cmds or ()) if isinstance(node, ast.AlterTableStmt) else []


def is_table_alter(node: Any) -> bool:
    return isinstance(node, ast.AlterTableStmt) and node.objtype in (
        ObjectType.OBJECT_TABLE, ObjectType.OBJECT_MATVIEW, ObjectType.OBJECT_FOREIGN_TABLE)


def column_defs(node: Any) -> Iterator[tuple[Any, Any, bool]]:
    """(ColumnDef, table RangeVar, added_to_existing_table) for CREATE TABLE and ADD COLUMN."""
    if isinstance(node, ast.CreateStmt):
        for elt in node.tableElts or ():
            if isinstance(elt, ast.ColumnDef):
                yield elt, node.relation, False
    elif is_table_alter(node):
        for cmd in node.cmds:
            if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                yield cmd.def_, node.relation, True


def column_types(node: Any) -> Iterator[tuple[str | None, Any, Any]]:
    """(column name, TypeName, table RangeVar) for every column type a statement sets."""
    for coldef, rel, _ in column_defs(node):
        yield coldef.colname, coldef.typeName, rel
    for cmd in alter_cmds(node):
        if cmd.subtype == AlterTableType.AT_AlterColumnType and cmd.def_ is not None:
            yield cmd.name, cmd.def_.typeName, node.relation


def added_constraints(node: Any) -> Iterator[tuple[Any, Any, str | None]]:
    """(Constraint, table RangeVar, column or None) added to an existing table by ALTER TABLE."""
    for cmd in alter_cmds(node):
        if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
            yield cmd.def_, node.relation, None
        elif cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
            for con in cmd.def_.constraints or ():
                yield con, node.relation, cmd.def_.colname


def transaction_kind(node: Any) -> str | None:
    if not isinstance(node, ast.TransactionStmt):
        return None
    kind = node.kind
    if kind in (TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START):
        return "begin"
    if kind in (TransactionStmtKind.TRANS_STMT_COMMIT, TransactionStmtKind.TRANS_STMT_ROLLBACK,
                TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
                TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED,
                TransactionStmtKind.TRANS_STMT_PREPARE):
        return "end"
    return None


# ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (PostgreSQL docs, ALTER TABLE)
_WEAKER_ALTERS = {
    AlterTableType.AT_ValidateConstraint, AlterTableType.AT_SetStatistics,
    AlterTableType.AT_ClusterOn, AlterTableType.AT_DropCluster, AlterTableType.AT_SetRelOptions,
    AlterTableType.AT_ResetRelOptions, AlterTableType.AT_ReplaceRelOptions,
    AlterTableType.AT_EnableTrig, AlterTableType.AT_DisableTrig, AlterTableType.AT_EnableAlwaysTrig,
    AlterTableType.AT_EnableReplicaTrig, AlterTableType.AT_EnableTrigAll,
    AlterTableType.AT_DisableTrigAll, AlterTableType.AT_EnableTrigUser,
    AlterTableType.AT_DisableTrigUser, AlterTableType.AT_AttachPartition,
    AlterTableType.AT_DetachPartitionFinalize,
}


def _weaker_cmd(cmd: Any) -> bool:
    if cmd.subtype in _WEAKER_ALTERS:
        return True
    # ADD FOREIGN KEY takes SHARE ROW EXCLUSIVE on both tables
    return (cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint)
            and cmd.def_.contype == ConstrType.CONSTR_FOREIGN)


def exclusive_targets(node: Any) -> list[str]:
    """Relations a statement locks ACCESS EXCLUSIVE, judged from its text alone."""
    if isinstance(node, ast.AlterTableStmt):
        if any(not _weaker_cmd(c) for c in node.cmds or ()):
            return [qualified(node.relation)]
        return []
    if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
        return [".".join(names(o)) for o in node.objects or ()]
    if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX and not node.concurrent:
        return [".".join(names(o)) for o in node.objects or ()]
    if isinstance(node, ast.TruncateStmt):
        return [qualified(r) for r in node.relations or ()]
    if isinstance(node, ast.RenameStmt) and node.relation is not None:
        return [qualified(node.relation)]
    if isinstance(node, ast.ClusterStmt) and node.relation is not None:
        return [qualified(node.relation)]
    if isinstance(node, ast.VacuumStmt) and has_option(node.options, "full"):
        return [qualified(v.relation) for v in node.rels or () if v.relation is not None] or ["(all tables)"]
    if isinstance(node, ast.LockStmt) and node.mode == 8:
        return [qualified(r) for r in node.relations or ()]
    return []


def has_option(options: Any, name: str) -> bool:
    for opt in options or ():
        if getattr(opt, "defname", None) == name:
            arg = getattr(opt, "arg", None)
            val = getattr(arg, "sval", getattr(arg, "boolval", None)) if arg is not None else None
            if val is None:
                return True
            return str(getattr(val, "boolval", val)).lower() not in ("false", "off", "0")
    return False


def lock_targets(node: Any, state: LintState) -> list[str]:
    """Existing relations a statement must lock (and may queue behind): timeouts matter here."""
    rels: list[Any] = []
    if isinstance(node, ast.AlterTableStmt):
        rels = [node.relation]
        for con, _, _ in added_constraints(node):
            if con.contype == ConstrType.CONSTR_FOREIGN and con.pktable is not None:
                rels.append(con.pktable)
    elif isinstance(node, ast.IndexStmt) or isinstance(node, (ast.RenameStmt, ast.ClusterStmt, ast.CreateTrigStmt)) and node.relation is not None:
        rels = [node.relation]
    elif isinstance(node, (ast.TruncateStmt, ast.LockStmt)):
        rels = list(node.relations or ())
    elif isinstance(node, ast.ReindexStmt) and node.relation is not None:
        rels = [node.relation]
    elif isinstance(node, ast.VacuumStmt) and has_option(node.options, "full"):
        rels = [v.relation for v in node.rels or () if v.relation is not None]
    elif isinstance(node, ast.DropStmt) and node.removeType in (
            ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX, ObjectType.OBJECT_VIEW,
            ObjectType.OBJECT_MATVIEW, ObjectType.OBJECT_TRIGGER):
        return [n for n in (".".join(names(o)) for o in node.objects or ()) if bare(n) not in state.created]
    elif isinstance(node, ast.CreateStmt):
        for elt in node.tableElts or ():
            cons = elt.constraints if isinstance(elt, ast.ColumnDef) else [elt]
            for con in cons or ():
                if isinstance(con, ast.Constraint) and con.contype == ConstrType.CONSTR_FOREIGN and con.pktable is not None:
                    rels.append(con.pktable)
    return [qualified(r) for r in rels if r is not None and not state.is_new(r)]


class SqlRule(Rule):
    """A static rule: sees one parsed statement plus the revision's state so far."""

    kind: ClassVar[str] = "sql"
    once_per_revision: ClassVar[bool] = False

    def check(self, stmt: Statement, state: LintState) -> Iterator[Hit]:  # pragma: no cover
        raise NotImplementedError
