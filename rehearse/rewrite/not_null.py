"""SET NOT NULL -> a validated CHECK (col IS NOT NULL), then SET NOT NULL (no scan on PG12+),
then drop the check (RH113)."""

from __future__ import annotations

from .base import AUTOCOMMIT, RETRY, Step, default_constraint_name, one_alter, register, relname, single


@register("not-null-through-check", "RH113", "RH201")
def set_not_null(node, sql):
    """SET NOT NULL scans the whole table under ACCESS EXCLUSIVE; since PostgreSQL 12 a valid
    CHECK (col IS NOT NULL) lets it skip the scan, and the check is validated without blocking."""
    cmd = one_alter(node, "AT_SetNotNull")
    if cmd is None:
        return None
    table, column = relname(node.relation), cmd.name
    check = default_constraint_name(table, [column], "not_null")
    return single([
        Step(f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({column} IS NOT NULL) NOT VALID", RETRY,
             "brief lock: existing rows are not checked yet"),
        Step(f"ALTER TABLE {table} VALIDATE CONSTRAINT {check}", AUTOCOMMIT,
             "checks existing rows under SHARE UPDATE EXCLUSIVE: reads and writes go on"),
        Step(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL", RETRY,
             "no scan: PostgreSQL 12+ uses the valid check as proof"),
        Step(f"ALTER TABLE {table} DROP CONSTRAINT {check}", RETRY, "the check has done its job"),
    ], "not-null-through-check", ("RH113",), "set NOT NULL through a validated check",
        ("needs PostgreSQL 12 or later (older servers scan again at SET NOT NULL)",))
