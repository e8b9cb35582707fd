"""Plans and latency of the busiest shapes on staging, before and after the upgrade.

Two ways to plan a shape, and two plans are only ever compared when made the same way:

- *generic* (PostgreSQL 16+): ``EXPLAIN (GENERIC_PLAN, FORMAT JSON)`` of the shape's text, ``$n``
  and all: the plan the server would cache for the prepared statement, for no value in particular,
  so it cannot be skewed by the one value that was sampled;
- *sampled* (every version; PostgreSQL 15 has no GENERIC_PLAN): ``PREPARE`` it, then
  ``EXPLAIN (FORMAT JSON) EXECUTE`` it with parameter values sampled from the restored copy: for
  ``$n`` compared to (or assigned to) a column, a value of that column (``SELECT col FROM table
  WHERE col IS NOT NULL LIMIT 1``); for any other ``$n``, a plain value of its inferred type (1,
  'x', now()...).

``measure(generic=None)`` plans generically where the server can; a caller that compares with
plans made elsewhere (``--target-version`` against a PostgreSQL 15 baseline) says which way. The
parameter values are sampled in both cases (latency needs them), once, before the upgrade, and
reused after it, so both runs answer the same question.

Latency is the minimum of a few ``EXECUTE`` runs (after one untimed warm-up run), each in a
transaction that is rolled back (so writes leave nothing behind), bounded by ``budget_s`` per
shape (statement_timeout and total). The minimum, not the median: on a shared machine every run
can only be slowed down by what else runs (other processes, other sessions), never sped up, so the
fastest run is the closest to the shape's own cost. Before and after are measured the same way
(same warm-up, same number of runs, same parameter values).

Latency is still a noisy signal on a busy machine; the planner's estimated total cost is not (it
moves with the schema, the statistics and the settings, not with load). ``downtime.compare``
reports a shape as slower only when both agree: see :data:`COST_MARGIN`.
"""

from __future__ import annotations

import json
import time
from typing import Iterable

import psycopg2
from pglast import ast, parse_sql

from ..model import QueryShape, ShapeRun
from .compat import STATEMENT, connect, first_line, prepare
from .shapes import walk

_DEFAULTS = {
    "smallint": "1", "integer": "1", "bigint": "1", "numeric": "1", "real": "1", "double precision": "1",
    "boolean": "true", "text": "x", "character varying": "x", "character": "x", "name": "x",
    "uuid": "00000000-0000-0000-0000-000000000000", "jsonb": "{}", "json": "{}", "bytea": "",
}
_NOW = ("timestamp", "date", "time")

# the estimated total cost must rise by more than this fraction (with an unchanged plan shape) to
# corroborate a slower latency: re-analyzed statistics move costs by a few percent, a table that
# grew or was rewritten wider by much more
COST_MARGIN = 0.2


def _rangevars(stmt: ast.Node) -> tuple[dict[str, str], list[str]]:
    """alias (or name) -> qualified table, and the tables in order of appearance."""
    aliases: dict[str, str] = {}
    order: list[str] = []
    for node in walk(stmt):
        if isinstance(node, ast.RangeVar):
            name = f"{node.schemaname}.{node.relname}" if node.schemaname else node.relname
            order.append(name)
            aliases[node.relname] = name
            if node.alias is not None:
                aliases[node.alias.aliasname] = name
    return aliases, order


def _param(node) -> int | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node.number if isinstance(node, ast.ParamRef) else None


def _column(node) -> tuple[str | None, str] | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.ColumnRef):
        return None
    names = [f.sval for f in node.fields if isinstance(f, ast.String)]
    if not names:
        return None
    return (names[-2] if len(names) > 1 else None), names[-1]


def param_columns(query: str) -> dict[int, list[tuple[str, str]]]:
    """For each ``$n``: the (table, column) candidates it is compared to or stored in."""
    stmt = parse_sql(query)[0].stmt
    aliases, order = _rangevars(stmt)
    found: dict[int, list[tuple[str, str]]] = {}

    def add(number: int | None, table: str | None, column: str) -> None:
        if number is None:
            return
        tables = [aliases.get(table, table)] if table else list(dict.fromkeys(order))
        found.setdefault(number, []).extend((t, column) for t in tables if t)

    for node in walk(stmt):
        if isinstance(node, ast.A_Expr):
            sides = [(node.lexpr, node.rexpr), (node.rexpr, node.lexpr)]
            for col_side, other in sides:
                col = _column(col_side)
                if col is None:
                    continue
                for value in (other if isinstance(other, (list, tuple)) else (other,)):
                    add(_param(value), *col)
        elif isinstance(node, ast.InsertStmt) and node.cols and node.selectStmt is not None:
            target = f"{node.relation.schemaname}.{node.relation.relname}" if node.relation.schemaname \
                else node.relation.relname
            for row in node.selectStmt.valuesLists or ():
                for col, value in zip(node.cols, row):
                    if _param(value) is not None:
                        found.setdefault(_param(value), []).append((target, col.name))
        elif isinstance(node, ast.UpdateStmt):
            target = f"{node.relation.schemaname}.{node.relation.relname}" if node.relation.schemaname \
                else node.relation.relname
            for res in node.targetList or ():
                if isinstance(res, ast.ResTarget) and _param(res.val) is not None:
                    found.setdefault(_param(res.val), []).append((target, res.name))
    return found


def _quote(name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def sample_params(cur, shape: QueryShape, types: list[str]) -> tuple[str | None, ...]:
    """A value per parameter of the prepared statement (text; None is NULL)."""
    columns = param_columns(shape.query)
    values: list[str | None] = []
    for number, typ in enumerate(types, start=1):
        array = typ.endswith("[]")
        value = None
        for table, column in columns.get(number, ()):
            expr = f"ARRAY[{_quote(column)}]::text" if array else f"{_quote(column)}::text"
            try:
                cur.execute(f"SAVEPOINT s; SELECT {expr} FROM {_quote(table)} WHERE {_quote(column)} IS NOT NULL "
                            f"LIMIT 1")
                row = cur.fetchone()
                cur.execute("RELEASE SAVEPOINT s")
            except psycopg2.Error:
                cur.execute("ROLLBACK TO SAVEPOINT s")
                continue
            if row is not None:
                value = row[0]
                break
        if value is None:
            base = typ[:-2] if array else typ
            plain = _DEFAULTS.get(base)
            if plain is None and base.startswith(_NOW):
                cur.execute("SELECT now()::text")
                plain = cur.fetchone()[0]
            value = "{" + plain + "}" if array and plain is not None else plain
        values.append(value)
    return tuple(values)


def _plan_nodes(plan: dict, depth: int = 0) -> list[tuple[int, dict]]:
    nodes = [(depth, plan)]
    for child in plan.get("Plans", ()):
        nodes.extend(_plan_nodes(child, depth + 1))
    return nodes


def _describe(node: dict) -> str:
    text = node.get("Node Type", "?")
    if node.get("Index Name"):
        text += f" using {node['Index Name']}"
    if node.get("Relation Name"):
        text += f" on {node['Relation Name']}"
    return text


GENERIC_PLAN_FROM = 160000  # server_version_num of the first release with EXPLAIN (GENERIC_PLAN)


def measure(dsn: str, shapes: Iterable[QueryShape], *, params: dict[str, tuple] | None = None,
            runs: int = 5, budget_s: float = 2.0, generic: bool | None = None) -> dict[str, ShapeRun]:
    """Plan and latency of each shape on the database at ``dsn``, by fingerprint. With ``params``
    (fingerprint -> values from an earlier measure), the same values are used again. ``generic``:
    plan with EXPLAIN (GENERIC_PLAN) (True; the server must be 16+), with the sampled values
    (False), or generically where the server can (None)."""
    results: dict[str, ShapeRun] = {}
    conn = connect(dsn, "rehearse-plans", "measure query plans")
    try:
        if generic is None:
            generic = conn.server_version >= GENERIC_PLAN_FROM
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (f"{max(int(budget_s * 1000), 1)}ms",))
            for shape in shapes:
                results[shape.fingerprint] = _measure_one(cur, shape, (params or {}).get(shape.fingerprint),
                                                          runs, budget_s, generic)
    finally:
        conn.close()
    return results


def _measure_one(cur, shape: QueryShape, params: tuple | None, runs: int, budget_s: float,
                 generic: bool = False) -> ShapeRun:
    error = prepare(cur, shape)
    if error is not None:
        return ShapeRun(shape.fingerprint, ok=False, error=error, params=params or ())
    try:
        cur.execute("SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = %s", (STATEMENT,))
        types = [t for t in (cur.fetchone()[0] or [])]
        if params is None or len(params) != len(types):
            cur.execute("BEGIN")
            try:
                params = sample_params(cur, shape, types)
            finally:
                cur.execute("ROLLBACK")
        execute = f"EXECUTE {STATEMENT}" + (f"({', '.join(['%s'] * len(types))})" if types else "")
        try:
            if generic:  # the shape's own text: no values, no %s (psycopg2 leaves a query without args alone)
                cur.execute("EXPLAIN (GENERIC_PLAN, FORMAT JSON) " + shape.query)
            else:
                cur.execute("EXPLAIN (FORMAT JSON) " + execute, params)
            plan = cur.fetchone()[0]
        except psycopg2.Error as exc:
            return ShapeRun(shape.fingerprint, ok=False, error=first_line(exc), params=params)
        plan = json.loads(plan) if isinstance(plan, str) else plan
        cost = plan[0]["Plan"].get("Total Cost")
        nodes = _plan_nodes(plan[0]["Plan"])
        seq = tuple(sorted({n["Relation Name"] for _, n in nodes if n.get("Node Type") == "Seq Scan"
                            and n.get("Relation Name")}))
        idx = tuple(sorted({n["Index Name"] for _, n in nodes if n.get("Index Name")}))
        text = "\n".join("  " * d + _describe(n) for d, n in nodes)
        timings: list[float] = []
        deadline = time.perf_counter() + budget_s
        # one untimed run first: the first EXECUTE after DDL also reloads the catalog caches
        for run in range(max(runs, 1) + 1):
            if time.perf_counter() >= deadline:
                break
            cur.execute("BEGIN")
            try:
                started = time.perf_counter()
                cur.execute(execute, params)
                if cur.description is not None:
                    cur.fetchall()
                if run:
                    timings.append((time.perf_counter() - started) * 1000)
            except psycopg2.Error:
                break  # statement_timeout: the shape is slower than its budget
            finally:
                cur.execute("ROLLBACK")
        return ShapeRun(shape.fingerprint, ok=True, params=params, seq_scans=seq, indexes=idx, plan=text,
                        latency_ms=round(min(timings), 4) if timings else None, runs=len(timings),
                        cost=float(cost) if cost is not None else None,
                        plan_method="generic" if generic else "sampled")
    finally:
        cur.execute(f"DEALLOCATE {STATEMENT}")
