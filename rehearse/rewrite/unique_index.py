"""ADD CONSTRAINT ... UNIQUE -> CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX (RH132)."""

from __future__ import annotations

from pglast import enums

from .base import AUTOCOMMIT, RETRY, Step, default_constraint_name, one_alter, register, relname, single


@register("unique-through-index", "RH132", "RH201")
def unique(node, sql):
    """ADD UNIQUE builds its index under ACCESS EXCLUSIVE; built concurrently first, attaching
    it as the constraint only takes a brief lock."""
    cmd = one_alter(node, "AT_AddConstraint")
    if cmd is None or cmd.def_.contype != enums.ConstrType.CONSTR_UNIQUE or cmd.def_.indexname:
        return None
    con = cmd.def_
    if not con.keys or con.including or con.options or con.nulls_not_distinct:
        return None
    table = relname(node.relation)
    columns = [k.sval for k in con.keys]
    name = con.conname or default_constraint_name(table, columns, "key")
    return single([
        Step(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({', '.join(columns)})", AUTOCOMMIT,
             "built without blocking writes; cannot run in a transaction"),
        Step(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}", RETRY,
             "brief lock: the index is already built"),
    ], "unique-through-index", ("RH132",), "build the unique index concurrently, then attach it",
        ("if the concurrent build fails (duplicates) it leaves an INVALID index: drop it, fix the data, retry",))
