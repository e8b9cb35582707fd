"""Runs the registered rules: static rules over SQL, measured rules over traces.

``check_step`` is what the pipeline calls for each Alembic step it traced; ``lint_sql``
is the database-free path (``rehearse lint``, the pre-commit hook).
"""

from __future__ import annotations

from collections.abc import Iterable

from pglast import ast
from pglast.enums import AlterTableType, VariableSetKind

from ..model import Finding, StepResult
from .base import DATABASE_KINDS, DatabaseContext, Thresholds, all_rules
from .sqltools import (
    LintState,
    added_constraints,
    Statement,
    bare,
    exclusive_targets,
    parse,
    transaction_kind,
)

_TIMEOUTS = ("lock_timeout", "statement_timeout")


def lint_sql(sql: str, *, revision: str | None = None, location: str | None = None,
             phase: str = "upgrade", server_version_num: int = 150000,
             assume_in_transaction: bool = False) -> list[Finding]:
    """Static findings for SQL text (transactions are read from its BEGIN/COMMIT)."""
    state = LintState(server_version_num=server_version_num, in_transaction=assume_in_transaction,
                      depth=1 if assume_in_transaction else 0, assumed_transaction=assume_in_transaction)
    return run_static(parse(sql), state, revision=revision, phase=phase, location=location)


def check_step(revision: str, step: StepResult, *, phase: str = "upgrade",
               server_version_num: int = 150000, thresholds: Thresholds | None = None) -> list[Finding]:
    """Static rules on each executed statement, then measured rules on each trace."""
    thresholds = thresholds or Thresholds()
    statements: list[Statement] = []
    for trace in step.statements:
        for stmt in parse(trace.sql):
            stmt.trace = trace
            stmt.ignores |= _revision_ignores(trace.location)
            statements.append(stmt)
    state = LintState(server_version_num=server_version_num, traced=True)
    findings = run_static(statements, state, revision=revision, phase=phase)
    for trace in step.statements:
        for rule in all_rules("measured"):
            for hit in rule.check(trace, thresholds):
                findings.append(rule.finding(hit, revision=revision, statement=trace.sql,
                                             location=trace.location, phase=phase))
    return findings


_PHASE_OF_KIND = {"drift": "drift", "invariant": "invariant"}


def check_database(ctx: DatabaseContext) -> list[Finding]:
    """Every database rule (schema, drift, invariant) whose moments include ``ctx.moment``."""
    findings: list[Finding] = []
    for rule in all_rules():
        if rule.kind not in DATABASE_KINDS or ctx.moment not in getattr(rule, "moments", ()):
            continue
        for hit in rule.check(ctx):
            findings.append(rule.finding(hit, revision=ctx.revision, statement=hit.statement,
                                         phase=_PHASE_OF_KIND.get(rule.kind, ctx.phase)))
    return findings


def run_static(statements: Iterable[Statement], state: LintState, *, revision: str | None,
               phase: str, location: str | None = None) -> list[Finding]:
    rules = all_rules("sql")
    findings: list[Finding] = []
    for stmt in statements:
        if state.traced and stmt.trace is not None:
            if state.in_transaction and not stmt.trace.in_transaction:
                _end_transaction(state)
            state.in_transaction = stmt.trace.in_transaction
        where = _where(stmt, location)
        for rule in rules:
            if (stmt.node is None) != rule.on_unparsed:
                continue
            if rule.once_per_revision and rule.code in state.reported:
                continue
            for hit in rule.check(stmt, state):
                if ignored(stmt, rule.code):
                    continue
                finding = rule.finding(hit, revision=revision, statement=stmt.sql, location=where, phase=phase)
                findings.append(_measured_verdict(rule, finding, stmt.trace))
                if rule.once_per_revision:
                    state.reported.add(rule.code)
        if stmt.node is not None:
            _advance(stmt, state)
    return findings


def _revision_ignores(location: str | None) -> set[str]:
    """Codes the revision's Python comments ignore for the op call at ``file.py:line``."""
    if not location:
        return set()
    from .ignores import directives
    from .lint import revision_directives

    path, _, line = location.rpartition(":")
    if not line.isdigit():
        return set()
    found: set[str] = set()
    for text in revision_directives(path, int(line)):
        for _, codes in directives(text):
            found |= codes
    return found


def ignored(stmt: Statement, code: str) -> bool:
    """Whether the statement's comments (or the file's) ask not to report this rule."""
    from .ignores import ALL

    asked = stmt.ignores | stmt.file_ignores
    return ALL in asked or code in asked


def _where(stmt: Statement, location: str | None) -> str | None:
    """file:line:column of a statement: its traced op call, the op call lint found, or its line in a file."""
    if stmt.trace is not None and stmt.trace.location:
        return stmt.trace.location
    if stmt.source:
        return stmt.source
    if location:
        return f"{location}:{stmt.line}:{stmt.column}"
    return None


# Rules whose hazard is a table rewrite: the text can only say "may rewrite"; the rehearsal
# knows (relfilenode compared before and after), so a rewrite that did not happen is low.
_REWRITE_RULES = {"ban-column-type-change", "ban-table-rewrite-commands", "ban-volatile-default",
                  "ban-add-serial-column", "ban-stored-generated-column", "ban-add-column-default-before-pg11"}


def _measured_verdict(rule, finding: Finding, trace) -> Finding:
    if trace is None or not trace.ok or rule.name not in _REWRITE_RULES or trace.rewrites:
        return finding
    if not trace.in_transaction and not trace.locks:
        return finding  # nothing was observed, so nothing can be claimed
    import dataclasses
    return dataclasses.replace(
        finding, severity="low",
        message=finding.message + "; measured on the rehearsal copy: no table was rewritten",
        evidence={**finding.evidence, "rewritten": False})


def _end_transaction(state: LintState) -> None:
    state.exclusive.clear()
    state.exclusive_reported = False
    state.not_valid.clear()
    for name in state.local_timeouts:
        setattr(state, name, False)
    state.local_timeouts.clear()


def _advance(stmt: Statement, state: LintState) -> None:
    """Update the revision state with what this statement did."""
    node = stmt.node
    kind = transaction_kind(node)
    if kind == "begin":
        state.depth += 1
        if not state.traced:
            state.in_transaction = True
        return
    if kind == "end":
        state.depth = 0
        if not state.traced:
            state.in_transaction = False
        _end_transaction(state)
        return
    if isinstance(node, ast.VariableSetStmt) and node.name in _TIMEOUTS:
        on = node.kind == VariableSetKind.VAR_SET_VALUE and not _is_zero(node.args)
        setattr(state, node.name, on)
        if node.is_local:
            state.local_timeouts.add(node.name)
    elif isinstance(node, (ast.CreateStmt, ast.CreateTableAsStmt)):
        rel = node.relation if isinstance(node, ast.CreateStmt) else node.into.rel
        state.created.add(bare(rel))
    elif isinstance(node, ast.ViewStmt):
        state.created.add(bare(node.view))
    elif isinstance(node, ast.IndexStmt) and node.idxname:
        state.created.add(node.idxname.lower())
    elif isinstance(node, ast.AlterTableStmt):
        for con, rel, _ in added_constraints(node):
            if con.skip_validation and state.in_transaction:
                state.not_valid.add((bare(rel), (con.conname or "").lower()))
        if any(c.subtype == AlterTableType.AT_ValidateConstraint for c in node.cmds or ()):
            state.validated.add(bare(node.relation))
    elif isinstance(node, ast.RenameStmt) and node.relation is not None and node.newname:
        if state.is_new(node.relation):
            state.created.add(node.newname.lower())
    if state.in_transaction:
        if stmt.trace is not None:
            targets = [lk.relation for lk in stmt.trace.locks if lk.mode == "AccessExclusiveLock"]
        else:
            targets = exclusive_targets(node)
        state.exclusive.extend(t for t in targets if bare(t) not in state.created)


def _is_zero(args) -> bool:
    for arg in args or ():
        val = getattr(arg, "val", None)
        raw = getattr(val, "ival", getattr(val, "sval", None))
        if str(raw).strip().lower() in ("0", "0ms", "0s"):
            return True
    return False





def check_graph(script_directory) -> list[Finding]:
    """Graph findings for an Alembic project: a ProjectGraph, a ScriptDirectory, a Config, or an alembic.ini path."""
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from .graph.scan import scan

    script = script_directory
    if hasattr(script, "version_locations"):  # rehearse.model.ProjectGraph, read by the project's Alembic
        locations = [Path(p) for p in script.version_locations if Path(p).exists()]
        return _graph_findings(scan(locations, recursive=script.recursive))
    if isinstance(script, (str, Path)):
        script = Config(str(script))
    if isinstance(script, Config):
        script = ScriptDirectory.from_config(script)
    locations = [Path(p) for p in script._version_locations if Path(p).exists()]
    return _graph_findings(scan(locations, recursive=bool(getattr(script, "recursive_version_locations", False))))


def _graph_findings(graph) -> list[Finding]:
    findings: list[Finding] = []
    for rule in all_rules("graph"):
        for revision, location, hit in rule.check(graph):
            findings.append(rule.finding(hit, revision=revision, location=location, phase="graph"))
    return findings
