"""Pre-statement probes: count existing rows a statement's new constraint or cast would reject.

The tracer calls :func:`preflight` just before running a statement, inside the migration's
own transaction, with its DBAPI cursor. Everything here runs inside a SAVEPOINT that is
always rolled back, so the migration's transaction (and its settings) is left exactly as it
was, even when a probe query fails. Samples hold primary-key values only (or ctid when
there is no primary key), never other column values: no personal data leaves the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType
from pglast.stream import RawStream

from .sqltools import constraints_of, parse

log = logging.getLogger(__name__)

SAMPLE = 5
SAVEPOINT = "rehearse_probe"


def preflight(sql: str, cursor, *, timeout_s: float = 120.0, sample: int = SAMPLE) -> dict:
    """Probe one statement before it runs; {} when there is nothing to probe.

    Returns ``{"violations": [{"kind", "table", "column", "rows", "sample_keys", "key_columns", ...}]}``
    listing only checks that were run (``rows`` may be 0), or ``{"probe_error": "..."}``.
    """
    plans = [p for stmt in parse(sql) if stmt.node is not None for p in _plans(stmt.node)]
    if not plans:
        return {}
    conn = getattr(cursor, "connection", None)
    status = conn.get_transaction_status() if conn is not None and hasattr(conn, "get_transaction_status") else 1
    if status not in (0, 1, 2):  # 3 = INERROR: nothing can run; 4 = unknown
        return {}
    own_tx = status == 0  # autocommit (e.g. an autocommit_block): probe in a transaction of our own
    results: list[dict] = []
    try:
        cursor.execute("BEGIN" if own_tx else f"SAVEPOINT {SAVEPOINT}")
        cursor.execute("SET LOCAL statement_timeout = %s", (f"{int(timeout_s * 1000)}ms",))
        for plan in plans:
            result = plan(cursor, sample)
            if result is not None:
                results.append(result)
    except Exception as exc:  # noqa: BLE001  a probe must never break the migration
        log.debug("probe failed: %s", exc)
        _rollback(cursor, own_tx)
        return {"probe_error": " ".join(str(exc).split())[:300]}
    _rollback(cursor, own_tx)
    return {"violations": results} if results else {}


def _rollback(cursor, own_tx: bool) -> None:
    """Undo everything the probes did (temp function, SET LOCAL), keeping the migration's transaction."""
    try:
        if own_tx:
            cursor.execute("ROLLBACK")
        else:
            cursor.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
            cursor.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")
    except Exception as exc:  # noqa: BLE001  the connection is gone: the migration reports that
        log.debug("probe rollback failed: %s", exc)


def table_stats(cursor, relations: Iterable[str]) -> dict[str, tuple[int, int]]:
    """{relation: (estimated rows, total bytes)} for relations that exist (planner estimate, no scan)."""
    out = {}
    for rel in relations:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (rel,))
        if not cursor.fetchone()[0]:
            continue
        cursor.execute("SELECT greatest(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid) "
                       "FROM pg_class c WHERE c.oid = to_regclass(%s)", (rel,))
        rows, size = cursor.fetchone()
        out[rel] = (int(rows), int(size))
    return out


# --- planning: which probe each statement needs ---------------------------------------------


def _plans(node: Any) -> list:
    plans = []
    if isinstance(node, ast.AlterTableStmt) and node.relation is not None:
        rel = node.relation
        for cmd in node.cmds or ():
            if cmd.subtype == AlterTableType.AT_SetNotNull:
                plans.append(lambda cur, n, rel=rel, col=cmd.name: _not_null(cur, n, rel, col))
            elif cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                plans.extend(_add_column_plans(rel, cmd.def_))
            elif cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
                plans.extend(_constraint_plans(rel, cmd.def_))
            elif cmd.subtype == AlterTableType.AT_AlterColumnType and isinstance(cmd.def_, ast.ColumnDef):
                plans.append(lambda cur, n, rel=rel, cmd=cmd: _cast(cur, n, rel, cmd.name, cmd.def_))
    elif isinstance(node, ast.IndexStmt) and node.unique and node.relation is not None:
        exprs = [e.name and _ident(e.name) or _deparse(e.expr) for e in node.indexParams or ()]
        where = _deparse(node.whereClause) if node.whereClause is not None else None
        plans.append(lambda cur, n: _unique(cur, n, node.relation, exprs, where, node.idxname))
    return plans


def _add_column_plans(rel, coldef) -> list:
    nn = coldef.is_not_null or constraints_of(coldef, ConstrType.CONSTR_NOTNULL) \
        or constraints_of(coldef, ConstrType.CONSTR_PRIMARY)
    filled = any(constraints_of(coldef, k) for k in (ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY,
                                                       ConstrType.CONSTR_GENERATED))
    if nn and not filled and not (coldef.typeName and "serial" in coldef.typeName.names[-1].sval.lower()):
        return [lambda cur, n: _all_rows(cur, n, rel, coldef.colname)]
    return []


def _constraint_plans(rel, con) -> list:
    if con.contype in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY) and not con.indexname:
        cols = [_ident(k.sval) for k in con.keys or ()]
        plans = [lambda cur, n: _unique(cur, n, rel, cols, None, con.conname)]
        if con.contype == ConstrType.CONSTR_PRIMARY:
            plans += [lambda cur, n, c=k.sval: _not_null(cur, n, rel, c) for k in con.keys or ()]
        return plans
    if con.contype == ConstrType.CONSTR_CHECK:
        return [lambda cur, n: _check(cur, n, rel, con)]
    if con.contype == ConstrType.CONSTR_FOREIGN:
        return [lambda cur, n: _foreign_key(cur, n, rel, con)]
    return []


# --- the probes ------------------------------------------------------------------------------


def _relname(rangevar) -> str:
    return (f"{_ident(rangevar.schemaname)}." if rangevar.schemaname else "") + _ident(rangevar.relname)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _deparse(node) -> str:
    return RawStream()(node)


def _exists(cur, rel: str) -> str | None:
    """The table's qualified name when it exists (probes skip tables created by this migration)."""
    cur.execute("SELECT to_regclass(%s)::text, (SELECT n.nspname FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s))", (rel, rel))
    name, schema = cur.fetchone()
    if name is None:
        return None
    return name if "." in name else f"{schema}.{name}"


def _key_columns(cur, rel: str) -> list[str]:
    cur.execute("""
        SELECT a.attname FROM pg_index i
        JOIN LATERAL unnest(string_to_array(i.indkey::text, ' ')::int2[]) WITH ORDINALITY AS k(attnum, ord) ON true
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY k.ord""", (rel,))
    return [r[0] for r in cur.fetchall()]


def _sample(cur, rel: str, alias_where: str, n: int, params: tuple | None = None) -> tuple[list[str], list[list]]:
    """Primary-key values (or ctid) of up to n rows of ``rel AS t`` matching ``alias_where``."""
    keys = _key_columns(cur, rel)
    if keys:
        cols = ", ".join(f"t.{_ident(k)}" for k in keys)
        cur.execute(f"SELECT {cols} FROM {rel} AS t WHERE {alias_where} ORDER BY {cols} LIMIT {int(n)}", params)
        return keys, [list(r) for r in cur.fetchall()]
    cur.execute(f"SELECT t.ctid::text FROM {rel} AS t WHERE {alias_where} LIMIT {int(n)}", params)
    return ["ctid"], [list(r) for r in cur.fetchall()]


def _result(kind, table, rows, keys, sample, **extra) -> dict:
    out = {"kind": kind, "table": table, "rows": int(rows), "key_columns": keys, "sample_keys": sample}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def _not_null(cur, n, rangevar, column):
    rel = _relname(rangevar)
    table = _exists(cur, rel)
    if table is None:
        return None
    where = f"t.{_ident(column)} IS NULL"
    cur.execute(f"SELECT count(*) FROM {rel} AS t WHERE {where}")
    rows = cur.fetchone()[0]
    keys, sample = _sample(cur, rel, where, n) if rows else ([], [])
    return _result("not_null", table, rows, keys, sample, column=column)


def _all_rows(cur, n, rangevar, column):
    rel = _relname(rangevar)
    table = _exists(cur, rel)
    if table is None:
        return None
    cur.execute(f"SELECT count(*) FROM {rel}")
    rows = cur.fetchone()[0]
    keys, sample = _sample(cur, rel, "true", n) if rows else ([], [])
    return _result("not_null", table, rows, keys, sample, column=column, reason="new NOT NULL column without default")


def _unique(cur, n, rangevar, exprs, where, name):
    rel = _relname(rangevar)
    table = _exists(cur, rel)
    if table is None or not exprs:
        return None
    key = ", ".join(exprs)
    not_null = " AND ".join(f"({e}) IS NOT NULL" for e in exprs)
    filt = f"({not_null})" + (f" AND ({where})" if where else "")
    dup = f"SELECT {key} FROM {rel} WHERE {filt} GROUP BY {key} HAVING count(*) > 1"
    cur.execute(f"SELECT coalesce(sum(c), 0)::bigint, count(*) FROM "
                f"(SELECT count(*) AS c FROM {rel} WHERE {filt} GROUP BY {key} HAVING count(*) > 1) d")
    rows, groups = cur.fetchone()
    keys, sample = [], []
    if rows:
        t_exprs = ", ".join(_alias(e) for e in exprs)
        member = f"({t_exprs}) IN ({dup})" if len(exprs) > 1 else f"{t_exprs} IN ({dup})"
        keys, sample = _sample(cur, rel, f"{member} AND {filt}", n)  # outer columns resolve to t
    return _result("unique", table, rows, keys, sample, column=", ".join(e.strip('"') for e in exprs),
                   duplicate_groups=int(groups), constraint=name)


def _alias(expr: str) -> str:
    return f"t.{expr}" if expr.startswith('"') and expr.endswith('"') else f"({expr})"


def _check(cur, n, rangevar, con):
    rel = _relname(rangevar)
    table = _exists(cur, rel)
    if table is None:
        return None
    expr = _deparse(con.raw_expr)
    # a CHECK passes on NULL; only FALSE violates it. Unqualified column names resolve to t.
    where = f"({expr}) IS FALSE"
    cur.execute(f"SELECT count(*) FROM {rel} AS t WHERE {where}")
    rows = cur.fetchone()[0]
    keys, sample = _sample(cur, rel, where, n) if rows else ([], [])
    return _result("check", table, rows, keys, sample, constraint=con.conname, expression=expr,
                   not_valid=bool(con.skip_validation) or None)


def _foreign_key(cur, n, rangevar, con):
    rel = _relname(rangevar)
    table = _exists(cur, rel)
    prel = _relname(con.pktable)
    if table is None or _exists(cur, prel) is None:
        return None
    fk = [a.sval for a in con.fk_attrs or ()]
    pk = [a.sval for a in con.pk_attrs or ()] or _key_columns(cur, prel)
    if not fk or len(fk) != len(pk):
        return None
    present = " AND ".join(f"t.{_ident(c)} IS NOT NULL" for c in fk)
    match = " AND ".join(f"p.{_ident(p)} = t.{_ident(c)}" for c, p in zip(fk, pk))
    where = f"{present} AND NOT EXISTS (SELECT 1 FROM {prel} AS p WHERE {match})"
    cur.execute(f"SELECT count(*) FROM {rel} AS t WHERE {where}")
    rows = cur.fetchone()[0]
    keys, sample = _sample(cur, rel, where, n) if rows else ([], [])
    return _result("foreign_key", table, rows, keys, sample, column=", ".join(fk), constraint=con.conname,
                   references=_exists(cur, prel), not_valid=bool(con.skip_validation) or None)


_CAST_FN = """
CREATE FUNCTION pg_temp.rehearse_cast_fails(tbl text, expr text, typ text) RETURNS SETOF tid
LANGUAGE plpgsql AS $fn$
DECLARE r record;
BEGIN
  FOR r IN EXECUTE format('SELECT ctid AS c FROM %s', tbl) LOOP
    BEGIN
      EXECUTE format('SELECT (%s)::%s FROM %s AS t WHERE ctid = $1', expr, typ, tbl) USING r.c;
    EXCEPTION WHEN others THEN
      RETURN NEXT r.c;
    END;
  END LOOP;
END $fn$
"""


def _cast(cur, n, rangevar, column, coldef):
    rel = _relname(rangevar)
    table = _exists(cur, rel)
    if table is None:
        return None
    typ = _deparse(coldef.typeName)
    expr = _deparse(coldef.raw_default) if coldef.raw_default is not None else f"t.{_ident(column)}"
    # fast path: one pass that succeeds proves every row casts
    cur.execute(f"SAVEPOINT {SAVEPOINT}_cast")
    try:
        cur.execute(f"SELECT count(x) FROM (SELECT ({expr})::{typ} AS x FROM {rel} AS t) s")  # count(x) forces the cast
        cur.execute(f"RELEASE SAVEPOINT {SAVEPOINT}_cast")
        return _result("cast", table, 0, [], [], column=column, new_type=typ)
    except Exception:  # noqa: BLE001  any failure means: count row by row
        cur.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}_cast")
    cur.execute(_CAST_FN)
    cur.execute("SELECT count(*) FROM pg_temp.rehearse_cast_fails(%s, %s, %s)", (rel, expr, typ))
    rows = cur.fetchone()[0]
    where = "t.ctid IN (SELECT * FROM pg_temp.rehearse_cast_fails(%s, %s, %s))"
    keys, sample = _sample(cur, rel, where, n, (rel, expr, typ)) if rows else ([], [])
    return _result("cast", table, rows, keys, sample, column=column, new_type=typ)
