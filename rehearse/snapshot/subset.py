"""Subsets: which rows of each table a pull copies, closed over foreign keys so the restore's keys hold.

A subset file names WHERE clauses per table::

    tables:
      public.orders: "created_at > now() - interval '30 days'"
    follow: true      # default: also copy every row a copied row references, transitively
    default: all      # tables without a rule: all (copied whole) or none (only referenced rows)

Every table's selection becomes one SQL predicate, evaluated by the COPY (SELECT ...) that reads
the table inside the pull's exported snapshot: a parent's predicate is its own rule OR "referenced
by a kept row of a child", ``(id) IN (SELECT customer_id FROM ONLY orders WHERE <orders' predicate>)``,
nested down the foreign-key graph. Nothing is written to the source (no temp tables, no key sets
held by the client), so the size of a subset is limited only by what the source can evaluate; the
price is that a parent's query re-evaluates its children's predicates (cheap semi-joins for the
usual shallow graphs, but a deep chain of big tables is read once per level).

Self-references (a manager_id, a parent comment) are followed with a recursive CTE. Tables on a
foreign-key cycle through other tables, or with more than one self-reference, are copied whole
(with a warning): that always keeps their keys valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from ..errors import BadInput
from ..catalog import ForeignKey, TableInfo, quote_ident


@dataclass(frozen=True)
class SubsetSpec:
    """A subset file, validated: WHERE clauses by qualified table name."""

    rules: Mapping[str, str] = field(default_factory=dict)
    follow: bool = True
    default: str = "all"  # all | none
    path: str | None = None


@dataclass(frozen=True)
class SubsetPlan:
    """Per table, the predicate its rows must satisfy (None: the whole table)."""

    where: Mapping[str, str | None]
    warnings: tuple[str, ...] = ()

    def manifest(self, spec: SubsetSpec) -> dict:
        return {"rules": dict(spec.rules), "follow": spec.follow, "default": spec.default,
                "file": spec.path, "where": dict(self.where)}


def _refuse(path: str | None, msg: str, hint: str) -> BadInput:
    return BadInput(f"subset {path}: {msg}" if path else f"subset: {msg}", hint=hint)


def load_subset(path: Path) -> SubsetSpec:
    """Read and validate a subset YAML file (BadInput with the reason when it is unusable)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise BadInput(f"cannot read subset file {path}: {exc.strerror}", hint="give an existing YAML file") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"subset file {path} is not valid YAML: {str(exc).splitlines()[0]}",
                       hint="see docs/policy.md for the subset format") from None
    return subset_from_dict(data, str(path))


def subset_from_dict(data, path: str | None = None) -> SubsetSpec:
    hint = "write `tables: {public.orders: \"created_at > now() - interval '30 days'\"}`"
    if not isinstance(data, dict) or not isinstance(data.get("tables", {}), dict):
        raise _refuse(path, "expected a mapping with a `tables` mapping", hint)
    unknown = set(data) - {"tables", "follow", "default"}
    if unknown:
        raise _refuse(path, f"unknown key(s) {', '.join(sorted(unknown))}", "allowed: tables, follow, default")
    rules: dict[str, str] = {}
    for name, where in (data.get("tables") or {}).items():
        if not isinstance(where, str) or not where.strip():
            raise _refuse(path, f"the rule for {name} must be a non-empty SQL condition (a string)", hint)
        qualified = name if "." in str(name) else f"public.{name}"
        _check_condition(path, qualified, where)
        rules[qualified] = where.strip()
    follow = data.get("follow", True)
    default = data.get("default", "all")
    if not isinstance(follow, bool):
        raise _refuse(path, "follow must be true or false", "true (the default) keeps foreign keys valid")
    if default not in ("all", "none"):
        raise _refuse(path, f"default must be all or none, not {default!r}",
                      "all copies tables without a rule whole; none copies only their referenced rows")
    return SubsetSpec(rules=rules, follow=follow, default=default, path=path)


def _check_condition(path: str | None, table: str, where: str) -> None:
    """One boolean expression, nothing else: a ';' cannot smuggle a second statement into the COPY."""
    import pglast

    try:
        stmts = pglast.parse_sql(f"SELECT 1 FROM t WHERE {where}")
    except pglast.parser.ParseError as exc:
        raise _refuse(path, f"the rule for {table} is not a valid SQL condition ({exc})",
                      "write only what follows WHERE") from None
    if len(stmts) != 1:
        raise _refuse(path, f"the rule for {table} holds more than one statement",
                      "write only a condition, without ';'")


def _sccs(nodes: list[str], edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative enough for schema-sized graphs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            out.append(comp)

    for n in nodes:
        if n not in index:
            visit(n)
    return out


def _cols(names: tuple[str, ...], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    inner = ", ".join(prefix + quote_ident(c) for c in names)
    return f"({inner})" if len(names) > 1 else inner


def plan_subset(tables: list[TableInfo], spec: SubsetSpec, *, skip: frozenset[str] = frozenset()) -> SubsetPlan:
    """Each table's predicate: its rule, or'ed with the rows its children's kept rows reference."""
    by_name = {t.qualified: t for t in tables}
    missing = [q for q in spec.rules if q not in by_name]
    if missing:
        raise _refuse(spec.path, f"names table(s) the source does not have: {', '.join(missing)}",
                      "use schema.table names as `rehearse scan` lists them")
    warnings: list[str] = []
    # children[parent] = [(child, fk)]: who references whom
    children: dict[str, list[tuple[str, ForeignKey]]] = {q: [] for q in by_name}
    edges: dict[str, set[str]] = {q: set() for q in by_name}
    for t in tables:
        for fk in t.foreign_keys:
            parent = f"{fk.ref_schema}.{fk.ref_table}"
            if parent in by_name:
                children[parent].append((t.qualified, fk))
                edges[t.qualified].add(parent)
    whole: set[str] = set()
    if spec.follow:
        for comp in _sccs(list(by_name), edges):
            if len(comp) > 1:
                whole |= comp
                warnings.append(f"subset: {', '.join(sorted(comp))} reference each other in a cycle: copied whole")
        for q in by_name:
            selfs = [fk for c, fk in children[q] if c == q]
            if len(selfs) > 1 and q not in whole:
                whole.add(q)
                warnings.append(f"subset: {q} references itself through {len(selfs)} foreign keys: copied whole")
    # tables that end up whole because nothing narrows them
    memo: dict[str, str | None] = {}

    def pred(q: str) -> str | None:
        if q in memo:
            return memo[q]
        rule = spec.rules.get(q)
        if q in whole or (rule is None and spec.default == "all"):
            memo[q] = None
            return None
        if q in skip:  # restored without rows: nothing of it is kept, nothing it references is needed
            memo[q] = "false"
            return "false"
        t = by_name[q]
        parts = [f"({rule})"] if rule is not None else []
        self_fk = None
        if spec.follow:
            for child, fk in children[q]:
                if child == q:
                    self_fk = fk
                    continue
                if child in skip:
                    continue
                cp = pred(child)
                if cp == "false":
                    continue
                ct = by_name[child]
                not_null = " AND ".join(f"{quote_ident(c)} IS NOT NULL" for c in fk.columns)
                where = not_null if cp is None else f"({cp}) AND {not_null}"
                parts.append(f"{_cols(fk.ref_columns)} IN (SELECT {', '.join(quote_ident(c) for c in fk.columns)} "
                             f"FROM ONLY {ct.ident} WHERE {where})")
        base = " OR ".join(parts) if parts else "false"
        if self_fk is not None and base != "false":
            n = len(self_fk.columns)
            rs = [f"r{i}" for i in range(n)]
            fs = [f"f{i}" for i in range(n)]
            sel = ", ".join([quote_ident(c) for c in self_fk.ref_columns] + [quote_ident(c) for c in self_fk.columns])
            psel = ", ".join([f"p.{quote_ident(c)}" for c in self_fk.ref_columns] +
                             [f"p.{quote_ident(c)}" for c in self_fk.columns])
            on = " AND ".join(f"p.{quote_ident(r)} = k.{f}" for r, f in zip(self_fk.ref_columns, fs))
            rcols = f"({', '.join(rs)})" if n > 1 else rs[0]
            base = (f"{_cols(self_fk.ref_columns)} IN (WITH RECURSIVE k({', '.join(rs + fs)}) AS ("
                    f"SELECT {sel} FROM ONLY {t.ident} WHERE {base} "
                    f"UNION SELECT {psel} FROM ONLY {t.ident} p JOIN k ON {on}) SELECT {rcols} FROM k)")
        memo[q] = base
        return base

    where = {q: pred(q) for q in by_name}
    return SubsetPlan(where=where, warnings=tuple(warnings))
