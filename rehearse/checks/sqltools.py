"""Parsing executed SQL with pglast, and the per-revision state static rules read.

Static rules see one statement at a time, but some verdicts depend on what came before
in the same revision (a ``SET lock_timeout``, a table created a moment ago, an open
transaction). :class:`LintState` carries that; the runner updates it after every statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType, ObjectType, TransactionStmtKind
from pglast.parser import ParseError, scan

from ..model import StatementTrace
from .base import Hit, Rule


@dataclass
class Statement:
    """One parsed SQL statement (``node`` is None when pglast cannot parse it)."""

    sql: str
    node: Any
    trace: StatementTrace | None = None
    parse_error: str | None = None
    start: int = 0  # offset of the statement's first token in the text it was parsed from
    line: int = 1  # 1-based line and column of that token
    column: int = 1
    ignores: set[str] = field(default_factory=set)  # rule codes its comments ask to skip (ignores.ALL: all)
    file_ignores: set[str] = field(default_factory=set)  # from `rehearse-ignore-file` anywhere in the text
    source: str | None = None  # "path:line:col" of the statement (a revision's op call, a .sql line)

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
    assumed_transaction: bool = False  # the runner wraps the text in a transaction (depth starts at 1)
    lock_timeout: bool = False
    statement_timeout: bool = False
    local_timeouts: set[str] = field(default_factory=set)  # SET LOCAL ones end with the transaction
    created: set[str] = field(default_factory=set)  # relations created in this revision (bare names)
    validated: set[str] = field(default_factory=set)  # tables with a constraint validated earlier
    exclusive: list[str] = field(default_factory=list)  # tables AccessExclusive-locked in this transaction
    exclusive_reported: bool = False
    not_valid: set[tuple[str, str]] = field(default_factory=set)  # (table, constraint) added NOT VALID in this transaction
    reported: set[str] = field(default_factory=set)  # rule codes that report once per revision

    def is_new(self, relation: Any) -> bool:
        return relation is not None and bare(relation) in self.created


_LEADING = re.compile(r"\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/)", re.S)
_LOCATION_MARK = re.compile(r"--\s*rehearse-location:\s*(\S+)")


def parse(sql: str) -> list[Statement]:
    """Split and parse SQL text, one Statement per statement, with its line, column and ignores.

    The scanner splits (it survives syntax errors), then each piece is parsed alone, so one
    unparsable statement becomes a Statement with ``parse_error`` and the rest are still
    checked. Comments before a statement belong to it (ignore directives, the location
    marker ``lint`` writes for an Alembic op call), except a comment on the line where the
    previous statement ended, which belongs to that one.
    """
    from . import ignores as ign

    try:
        slices = _split(sql)
    except ParseError as exc:  # the scanner fails only on unterminated quotes and the like
        slices = (slice(len(sql) - len(sql.lstrip()), len(sql.rstrip())),)
        scan_error = str(exc)
    else:
        scan_error = None
    file_ignores = set().union(*([codes for whole, codes in ign.directives(_comments(sql)) if whole] or [set()]))
    out: list[Statement] = []
    prev_end = 0
    for piece in slices:
        text = sql[piece]
        lead = 0
        while (m := _LEADING.match(text, lead)) and m.end() > lead:
            lead = m.end()
        lead += len(text[lead:]) - len(text[lead:].lstrip())
        body = text[lead:]
        start = piece.start + lead
        if not body.strip().rstrip(";").strip():
            continue  # only comments
        boundary = prev_end
        if out:
            newline = sql.find("\n", prev_end, start)
            if newline >= 0:  # the rest of the previous statement's last line is its own
                for whole, codes in ign.directives(sql[prev_end:newline]):
                    if not whole:
                        out[-1].ignores |= codes
                boundary = newline + 1
        prefix = sql[boundary:start]
        line = sql.count("\n", 0, start) + 1
        column = start - (sql.rfind("\n", 0, start) + 1) + 1
        node, error = None, scan_error
        if error is None:
            try:
                raws = parse_sql(body)
            except ParseError as exc:
                error = _placed(str(exc), sql, start)
            else:
                node = raws[0].stmt if len(raws) == 1 else None
                if len(raws) != 1:
                    error = "could not split this text into one statement"
        stmt = Statement(sql=body.strip().rstrip(";").strip(), node=node, parse_error=error, start=start,
                         line=line, column=column, file_ignores=set(file_ignores))
        for whole, codes in ign.directives(prefix + _comments(body)):
            if not whole:
                stmt.ignores |= codes
        marks = _LOCATION_MARK.findall(prefix)
        if marks:
            stmt.source = marks[-1]
        out.append(stmt)
        prev_end = piece.stop
    return out


def _placed(message: str, sql: str, start: int) -> str:
    """The parser's message with its index (into the statement) as a line and column of the text."""
    match = re.search(r",? at index (\d+)$", message)
    if not match:
        return message
    at = start + int(match.group(1))
    line = sql.count("\n", 0, at) + 1
    column = at - (sql.rfind("\n", 0, at) + 1) + 1
    return f"{message[:match.start()]} (line {line}, column {column})"


_COMMENT_TOKENS = {"SQL_COMMENT", "C_COMMENT"}


def _split(sql: str) -> list[slice]:
    """Statement slices from the scanner's tokens, split at top-level semicolons.

    pglast's own scanner split drops pieces that start with an unknown word (``SELEC 1``),
    which is exactly what must be reported, so the split is done here on the tokens.
    """
    out: list[slice] = []
    first = last = None
    for token in scan(sql):
        if token.name in _COMMENT_TOKENS:
            continue
        if token.name == "ASCII_59":
            if first is not None:
                out.append(slice(first, last + 1))
            first = last = None
            continue
        first = token.start if first is None else first
        last = token.end
    if first is not None:
        out.append(slice(first, last + 1))
    return out


def _comments(sql: str) -> str:
    """The comments of SQL text, one per line (directives are only read from comments)."""
    return "\n".join(m.group(0) for m in re.finditer(r"--[^\n]*|/\*.*?\*/", sql, re.S))


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


# Objects other than tables whose DROP (or rename, move, comment) must lock them and their dependents.
_DROP_LOCKED = {ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW,
                ObjectType.OBJECT_TRIGGER, ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_TYPE,
                ObjectType.OBJECT_DOMAIN, ObjectType.OBJECT_FUNCTION, ObjectType.OBJECT_PROCEDURE,
                ObjectType.OBJECT_ROUTINE, ObjectType.OBJECT_SCHEMA, ObjectType.OBJECT_POLICY,
                ObjectType.OBJECT_RULE, ObjectType.OBJECT_FOREIGN_TABLE, ObjectType.OBJECT_STATISTIC_EXT}


def _object_name(obj: Any) -> str:
    if isinstance(obj, ast.ObjectWithArgs):
        return ".".join(names(obj.objname))
    if isinstance(obj, ast.TypeName):
        return ".".join(names(obj.names))
    if isinstance(obj, ast.String):
        return obj.sval
    if isinstance(obj, ast.RangeVar):
        return qualified(obj)
    return ".".join(names(obj))


def lock_targets(node: Any, state: LintState) -> list[str]:
    """Existing objects a statement must lock (and may queue behind): timeouts matter here.

    Every DDL kind that takes a lock on something that already exists: ALTER TABLE / INDEX /
    SEQUENCE, CREATE INDEX / TRIGGER / POLICY / RULE / STATISTICS, a partition or child of an
    existing table, DROP / RENAME / SET SCHEMA of any object, COMMENT ON, REFRESH, TRUNCATE,
    LOCK, REINDEX, CLUSTER, VACUUM FULL and ALTER DOMAIN (which scans the tables using it).
    """
    rels: list[Any] = []
    if isinstance(node, ast.AlterTableStmt):
        rels = [node.relation]
        for con, _, _ in added_constraints(node):
            if con.contype == ConstrType.CONSTR_FOREIGN and con.pktable is not None:
                rels.append(con.pktable)
    elif isinstance(node, (ast.IndexStmt, ast.RenameStmt, ast.ClusterStmt, ast.CreateTrigStmt,
                           ast.RefreshMatViewStmt, ast.RuleStmt, ast.AlterObjectSchemaStmt)) \
            and node.relation is not None:
        rels = [node.relation]
    elif isinstance(node, (ast.RenameStmt, ast.AlterObjectSchemaStmt)) and node.object is not None:
        name = _object_name(node.object)
        return [] if bare(name) in state.created else [name]
    elif isinstance(node, (ast.CreatePolicyStmt, ast.AlterPolicyStmt)):
        rels = [node.table]
    elif isinstance(node, ast.AlterSeqStmt):
        rels = [node.sequence]
    elif isinstance(node, ast.CreateStatsStmt):
        rels = [r for r in node.relations or () if isinstance(r, ast.RangeVar)]
    elif isinstance(node, ast.AlterDomainStmt):
        name = ".".join(names(node.typeName))
        return [] if bare(name) in state.created else [f"domain {name} (and the tables using it)"]
    elif isinstance(node, ast.CommentStmt) and node.objtype in (
            ObjectType.OBJECT_TABLE, ObjectType.OBJECT_COLUMN, ObjectType.OBJECT_INDEX, ObjectType.OBJECT_VIEW,
            ObjectType.OBJECT_MATVIEW, ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_TABCONSTRAINT,
            ObjectType.OBJECT_TRIGGER):
        parts = names(node.object) if isinstance(node.object, (tuple, list)) else [_object_name(node.object)]
        table = ".".join(parts[:-1]) if node.objtype == ObjectType.OBJECT_COLUMN else ".".join(parts)
        return [] if not table or bare(table) in state.created else [table]
    elif isinstance(node, (ast.TruncateStmt, ast.LockStmt)):
        rels = list(node.relations or ())
    elif isinstance(node, ast.ReindexStmt) and node.relation is not None:
        rels = [node.relation]
    elif isinstance(node, ast.VacuumStmt) and has_option(node.options, "full"):
        rels = [v.relation for v in node.rels or () if v.relation is not None]
    elif isinstance(node, ast.DropStmt) and node.removeType in _DROP_LOCKED:
        return [n for n in (_object_name(o) for o in node.objects or ()) if bare(n) not in state.created]
    elif isinstance(node, ast.CreateStmt):
        rels = [r for r in node.inhRelations or ()]  # PARTITION OF / INHERITS lock the parent
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
    on_unparsed: ClassVar[bool] = False  # sees statements pglast could not parse (node is None)

    def check(self, stmt: Statement, state: LintState) -> Iterator[Hit]:  # pragma: no cover
        raise NotImplementedError
