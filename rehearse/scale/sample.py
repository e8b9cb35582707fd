"""Which rows a ``--scale`` subset keeps: a deterministic sample of every table, that follows the
foreign keys down from the root tables so a subset of f keeps about f of every table.

Sampling every table on its own (``random() < f``) would keep f of the orders but far more than f
of the customers: the foreign-key closure of the pull adds every customer a kept order points at
(with 3 orders a customer, a 30% sample of orders references 66% of the customers). Instead a
root table (one that references no sampled table) keeps the rows whose keyed hash falls below f, and a
child keeps the rows whose parent was kept (``customer_id IN (SELECT id FROM customers WHERE
...)``), through its foreign key to the biggest parent. Rows the closure still adds (a second
parent, such as the product of an order item) are counted, not assumed: the fit reads the real
row counts of every subset. The hash is of the row's position in its table's heap and the table
name (``hashtext(name || ctid)``), stable inside one exported snapshot, so the nested semi-joins of
the pull see the same sample as the COPY itself, and a 3% subset holds the 1% subset.

Tables with no foreign key in or out are copied whole: a later revision may add a foreign key to
them (``order_items.product_id -> products``), which a sample of them would fail. Statements on
them are measured at their full size in every subset, so they need no extrapolation. A foreign
key that the migration adds between two sampled tables can still fail on a subset; that upgrade
is then reported as failing there (a warning), and its statements are not predicted.
"""

from __future__ import annotations

from typing import Mapping

from ..catalog import TableInfo, quote_ident

_BUCKETS = 1 << 20
# smaller tables are copied whole: they cost nothing to copy, and the version table (one row)
# must stay (the subsets start at the snapshot's revision)
MIN_ROWS = 1000


def _hash_pred(table: TableInfo, fraction: float) -> str:
    name = table.qualified.replace("'", "''")
    return f"(hashtext('{name}' || ctid::text) & {_BUCKETS - 1}) < {int(round(fraction * _BUCKETS))}"


def subset_for_fraction(tables: list[TableInfo], fraction: float,
                        rows: Mapping[str, int] | None = None) -> dict:
    """A subset file's content (``snapshot.subset`` format) keeping about ``fraction`` of every table."""
    by_name = {t.qualified: t for t in tables}
    rows = rows or {}
    size = lambda q: rows.get(q, by_name[q].est_rows if q in by_name else 0)
    linked = {q for t in tables for fk in t.foreign_keys for q in (t.qualified, f"{fk.ref_schema}.{fk.ref_table}")}
    sampled = {q for q in by_name if size(q) >= MIN_ROWS and q in linked}
    memo: dict[str, str] = {}

    def rule(q: str, seen: tuple[str, ...]) -> str:
        if q in memo:
            return memo[q]
        t = by_name[q]
        parents = [fk for fk in t.foreign_keys
                   if f"{fk.ref_schema}.{fk.ref_table}" in sampled and f"{fk.ref_schema}.{fk.ref_table}" not in seen + (q,)]
        own = _hash_pred(t, fraction)
        if not parents:
            memo[q] = own
            return own
        fk = max(parents, key=lambda k: (size(f"{k.ref_schema}.{k.ref_table}"), k.ref_table))
        parent = f"{fk.ref_schema}.{fk.ref_table}"
        inner = rule(parent, seen + (q,))
        cols = ", ".join(quote_ident(c) for c in fk.columns)
        ref = ", ".join(quote_ident(c) for c in fk.ref_columns)
        many = len(fk.columns) > 1
        nulls = " OR ".join(f"{quote_ident(c)} IS NULL" for c in fk.columns)
        text = (f"({'(' + cols + ')' if many else cols}) IN (SELECT {ref} FROM ONLY {by_name[parent].ident} "
                f"WHERE {inner}) OR (({nulls}) AND {own})")
        memo[q] = text
        return text

    return {"tables": {q: rule(q, ()) for q in sorted(sampled)}, "follow": True, "default": "all"}
