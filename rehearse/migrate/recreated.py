"""Objects dropped and created again under the same name within one step: rewrites too.

The tracer spots a rewrite when a relation keeps its oid and gets a new file. A revision that
runs ``DROP INDEX ix; CREATE INDEX ix ...`` (or drops and re-adds a primary key, or drops and
re-creates a table) rebuilds the object just the same, under a new oid, so the per-statement
comparison cannot see it. This reads the step's catalog changes: an index, a constraint's index
or a table dropped by one statement and added again by a later one is reported as rewritten by
the statement that re-created it, with the size its old self had (from the drop's lock).
"""

from __future__ import annotations

import dataclasses
import re

from ..model import StatementTrace, StepResult

_DROPPED = re.compile(r"^dropped (index|table|constraint) ([^\s:]+)(?: on ([^\s:]+))?")
_ADDED = re.compile(r"^added (index|table|constraint) ([^\s:]+)(?: on ([^\s:]+))?(?::\s*(.*))?")
_INDEX_BACKED = ("PRIMARY KEY", "UNIQUE", "EXCLUDE")


def with_recreated_rewrites(step: StepResult) -> StepResult:
    """``step`` with re-created objects added to the ``rewrites`` of the statement that re-created them."""
    dropped: dict[tuple[str, str], int] = {}
    changed: dict[int, list[str]] = {}
    for index, stmt in enumerate(step.statements):
        for change in stmt.catalog_changes:
            m = _DROPPED.match(change)
            if m:
                dropped[(m.group(1), _name(m))] = index
                continue
            m = _ADDED.match(change)
            if m is None or (m.group(1), _name(m)) not in dropped:
                continue
            kind, definition = m.group(1), m.group(4) or ""
            if kind == "constraint" and not definition.upper().startswith(_INDEX_BACKED):
                continue  # a CHECK or a foreign key has no storage of its own
            relation = _relation(kind, m, step.statements[dropped[(kind, _name(m))]])
            if relation and relation not in stmt.rewrites:
                changed.setdefault(index, []).append(relation)
    if not changed:
        return step
    statements = tuple(dataclasses.replace(s, rewrites=tuple(sorted({*s.rewrites, *changed[i]})))
                       if i in changed else s for i, s in enumerate(step.statements))
    return dataclasses.replace(step, statements=statements)


def _name(m: re.Match) -> str:
    return f"{m.group(2)} on {m.group(3)}" if m.group(3) else m.group(2)


def _relation(kind: str, m: re.Match, drop: StatementTrace) -> str | None:
    """The relation name the tracer uses (``schema.name``), read from the drop's locks."""
    name = m.group(2)
    if kind in ("index", "table"):
        return name
    for lock in drop.locks:  # a constraint's index is named like the constraint
        if lock.relation.rsplit(".", 1)[-1].strip('"') == name.strip('"'):
            return lock.relation
    table = m.group(3) or ""
    schema = table.rsplit(".", 1)[0] if "." in table else "public"
    return f"{schema}.{name}"
