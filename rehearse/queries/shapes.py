"""Query shapes: normalized statements with ``$n`` for every constant, the tables they touch and the lock they take.

A shape carries no data: pg_stat_statements already replaces constants by ``$n``, and statements
from a log are normalized here with pglast (libpg_query's own normalizer). A shape in which a
literal is still left (a constant pg_stat_statements kept, a statement that does not normalize)
is dropped, so no personal value ever reaches the snapshot or the report. Only statements the
application runs against tables are kept: SELECT, INSERT, UPDATE, DELETE (and WITH ... of those).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from pglast import ast, parse_sql, parser, visitors

from ..errors import BadInput
from ..model import QueryShape, QueryShapes, to_dict

QUERIES_FILE = "queries.json"

_DML = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)
_LOCKING_READ = "RowShareLock"  # SELECT ... FOR UPDATE / FOR SHARE


def walk(obj: Any) -> Iterator[ast.Node]:
    """Every pglast node under ``obj`` (itself included)."""
    if isinstance(obj, ast.Node):
        yield obj
        for slot in type(obj).__slots__:
            yield from walk(getattr(obj, slot, None))
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from walk(item)


def has_literal(node: Any) -> bool:
    """A constant other than NULL is still in the statement (so it may carry a production value)."""
    return any(isinstance(n, ast.A_Const) and not n.isnull for n in walk(node))


def shape_of(query: str, *, calls: int = 0, calls_per_s: float | None = None,
             mean_ms: float | None = None) -> QueryShape | None:
    """The shape of an already normalized statement; None when it is not one to keep
    (a literal left in, more than one statement, not DML on tables, or not parseable)."""
    text = " ".join(query.split()).rstrip(";").strip()
    try:
        stmts = parse_sql(text)
    except parser.ParseError:
        return None
    if len(stmts) != 1:
        return None
    stmt = stmts[0].stmt
    if not isinstance(stmt, _DML) or has_literal(stmt):
        return None
    tables = tuple(sorted(visitors.referenced_relations(stmt)))
    if not tables or all(_catalog(t) for t in tables):
        # SELECT $1, SELECT now(), a tool reading pg_class: nothing a migration can break
        return None
    kind, mode = _kind(stmt)
    return QueryShape(query=text, fingerprint=parser.fingerprint(text), kind=kind, lock_mode=mode, tables=tables,
                      calls=int(calls), calls_per_s=calls_per_s, mean_ms=mean_ms)


def _catalog(table: str) -> bool:
    name = table.lower()
    return name.startswith(("pg_catalog.", "information_schema.", "pg_")) or ".pg_" in name


def normalize(statement: str) -> str | None:
    """A statement with constants (``'a@b.c'``, ``42``) replaced by ``$n``; None if it does not parse."""
    try:
        return parser.normalize(statement.strip().rstrip(";"))
    except parser.ParseError:
        return None


def _kind(stmt: ast.Node) -> tuple[str, str]:
    if isinstance(stmt, ast.SelectStmt):
        # a data-modifying CTE writes
        writes = any(isinstance(n, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)) for n in walk(stmt.withClause))
        if writes:
            return "write", "RowExclusiveLock"
        if any(isinstance(n, ast.LockingClause) for n in walk(stmt)):
            return "read", _LOCKING_READ
        return "read", "AccessShareLock"
    return "write", "RowExclusiveLock"


def merge(shapes: Iterable[QueryShape]) -> tuple[QueryShape, ...]:
    """One shape per fingerprint (calls and rates summed, mean time weighted), busiest first."""
    by_fp: dict[str, QueryShape] = {}
    for s in shapes:
        old = by_fp.get(s.fingerprint)
        if old is None:
            by_fp[s.fingerprint] = s
            continue
        calls = old.calls + s.calls
        rate = None if old.calls_per_s is None and s.calls_per_s is None else (old.calls_per_s or 0) + (s.calls_per_s or 0)
        mean = old.mean_ms if s.mean_ms is None else s.mean_ms if old.mean_ms is None else (
            (old.mean_ms * old.calls + s.mean_ms * s.calls) / calls if calls else max(old.mean_ms, s.mean_ms))
        by_fp[s.fingerprint] = QueryShape(query=old.query, fingerprint=old.fingerprint, kind=old.kind,
                                          lock_mode=old.lock_mode, tables=old.tables, calls=calls,
                                          calls_per_s=rate, mean_ms=mean)
    return tuple(sorted(by_fp.values(), key=lambda s: (-load(s), s.query)))


def load(shape: QueryShape) -> float:
    """How much of the server a shape takes: calls/s x mean time (calls x mean without a rate)."""
    mean = shape.mean_ms or 0.0
    if shape.calls_per_s is not None:
        return shape.calls_per_s * mean
    return shape.calls * mean


# --- reading and writing ---------------------------------------------------------------------


def write_shapes(path: Path, shapes: QueryShapes) -> bytes:
    """queries.json's bytes (also written to ``path`` when given)."""
    data = json.dumps(to_dict(shapes), indent=2, sort_keys=True).encode() + b"\n"
    if path is not None:
        Path(path).write_bytes(data)
    return data


def read_shapes(path: Path) -> QueryShapes:
    """A queries.json written by ``rehearse snapshot`` (or by :func:`write_shapes`)."""
    try:
        data = json.loads(Path(path).read_text())
        shapes = tuple(QueryShape(**{**s, "tables": tuple(s.get("tables", ()))}) for s in data["shapes"])
        return QueryShapes(origin=data["origin"], shapes=shapes, window_s=data.get("window_s"),
                           dropped=data.get("dropped", 0), note=data.get("note"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"{path} is not a rehearse queries file ({exc})",
                       hint="give the queries.json of a snapshot, a pg_stat_statements CSV or a log of statements")


def read_queries_file(path: Path) -> QueryShapes:
    """Shapes from ``--queries FILE``: a queries.json, a pg_stat_statements CSV export (a header
    with ``query`` and optionally ``calls``, ``calls_per_s``, ``mean_exec_time`` or
    ``total_exec_time``), or a log of statements (PostgreSQL's ``statement:`` lines, or plain SQL)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"--queries {path} does not exist", hint="give a pg_stat_statements CSV, a log of statements "
                       "or a queries.json")
    text = path.read_text(errors="replace")
    if text.lstrip().startswith("{"):
        return read_shapes(path)
    first = text.splitlines()[0] if text.strip() else ""
    if "query" in [c.strip().lower() for c in next(csv.reader([first]), [])]:
        return _from_csv(text, path)
    return _from_log(text, path)


def _number(row: dict, *names: str) -> float | None:
    for name in names:
        value = (row.get(name) or "").strip()
        if value:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _from_csv(text: str, path: Path) -> QueryShapes:
    rows = csv.DictReader(text.splitlines(keepends=True))
    rows.fieldnames = [f.strip().lower() for f in rows.fieldnames or ()]
    found, dropped = [], 0
    for row in rows:
        calls = _number(row, "calls") or 0
        mean = _number(row, "mean_exec_time", "mean_time")
        total = _number(row, "total_exec_time", "total_time")
        if mean is None and total is not None and calls:
            mean = total / calls
        shape = shape_of(row.get("query") or "", calls=int(calls), calls_per_s=_number(row, "calls_per_s"),
                         mean_ms=mean)
        if shape is None:
            dropped += 1
        else:
            found.append(shape)
    return QueryShapes(origin=f"csv:{path.name}", shapes=merge(found), dropped=dropped)


# `LOG:  statement: SELECT ...` and `LOG:  duration: 0.321 ms  statement: SELECT ...` (log_statement,
# log_min_duration_statement); `execute <name>: ...` for extended-protocol statements
_LOG_LINE = re.compile(r"(?:duration:\s*(?P<ms>[\d.]+)\s*ms\s+)?(?:statement|execute [^:]*):\s*(?P<sql>.*)$")


def _from_log(text: str, path: Path) -> QueryShapes:
    statements: list[tuple[str, float | None]] = []
    lines = text.splitlines()
    if any(_LOG_LINE.search(line) for line in lines):
        current: list[str] | None = None
        ms = None
        for line in lines:
            m = _LOG_LINE.search(line)
            if m:
                if current:
                    statements.append(("\n".join(current), ms))
                current, ms = [m.group("sql")], float(m.group("ms")) if m.group("ms") else None
            elif current is not None and line.startswith(("\t", " ")):
                current.append(line.strip())  # a statement continued on the next log line
            elif current:
                statements.append(("\n".join(current), ms))
                current = None
        if current:
            statements.append(("\n".join(current), ms))
    else:
        try:
            statements = [(s, None) for s in parser.split(text)]
        except parser.ParseError as exc:
            raise BadInput(f"--queries {path}: not a CSV with a 'query' column, and not SQL ({exc})",
                           hint="give a pg_stat_statements CSV export or a log of statements") from None
    found, dropped = [], 0
    for sql, ms in statements:
        normalized = normalize(sql)
        shape = shape_of(normalized, calls=1, mean_ms=ms) if normalized else None
        if shape is None:
            dropped += 1
        else:
            found.append(shape)
    return QueryShapes(origin=f"log:{path.name}", shapes=merge(found), dropped=dropped)
