"""FOREIGN KEY and CHECK constraints -> ADD ... NOT VALID, then VALIDATE in its own step (RH130, RH131)."""

from __future__ import annotations

import copy

from pglast import enums

from .base import AUTOCOMMIT, RETRY, Step, default_constraint_name, deparse, one_alter, register, relname, single


def _not_valid(node, contype, codes, pattern):
    cmd = one_alter(node, "AT_AddConstraint")
    if cmd is None or cmd.def_.contype != contype or cmd.def_.skip_validation:
        return None
    new = copy.deepcopy(node)
    con = new.cmds[0].def_
    table = relname(node.relation)
    if not con.conname:
        if contype != enums.ConstrType.CONSTR_FOREIGN:
            return None  # PostgreSQL's name for an unnamed CHECK depends on the expression
        con.conname = default_constraint_name(table, [a.sval for a in con.fk_attrs], "fkey")
    con.skip_validation = True
    con.initially_valid = False
    return single([
        Step(deparse(new), RETRY, "brief lock: existing rows are not checked yet"),
        Step(f"ALTER TABLE {table} VALIDATE CONSTRAINT {con.conname}", AUTOCOMMIT,
             "checks existing rows under SHARE UPDATE EXCLUSIVE: reads and writes go on"),
    ], pattern, codes, "add the constraint NOT VALID, then validate it")


@register("not-valid-foreign-key", "RH130", "RH201")
def foreign_key(node, sql):
    """ADD FOREIGN KEY scans the table under SHARE ROW EXCLUSIVE (writes wait on both tables)."""
    return _not_valid(node, enums.ConstrType.CONSTR_FOREIGN, ("RH130",), "not-valid-foreign-key")


@register("not-valid-check", "RH131", "RH201")
def check(node, sql):
    """ADD CHECK scans the table under ACCESS EXCLUSIVE (reads and writes wait)."""
    return _not_valid(node, enums.ConstrType.CONSTR_CHECK, ("RH131",), "not-valid-check")
