"""CREATE INDEX / DROP INDEX -> CONCURRENTLY, in an autocommit block (RH101, RH102)."""

from __future__ import annotations

import copy

from pglast import ast, enums

from .base import AUTOCOMMIT, Step, deparse, register, single


@register("concurrent-index", "RH101", "RH201")
def create_index(node, sql):
    """A plain CREATE INDEX holds a SHARE lock (writes wait) for the whole build; built
    CONCURRENTLY it takes SHARE UPDATE EXCLUSIVE, which lets reads and writes go on."""
    if not isinstance(node, ast.IndexStmt) or node.concurrent:
        return None
    new = copy.deepcopy(node)
    new.concurrent = True
    return single([Step(deparse(new), AUTOCOMMIT, "built without blocking writes; cannot run in a transaction")],
                  "concurrent-index", ("RH101",), "create the index concurrently",
                  ("if the concurrent build fails it leaves an INVALID index: drop it and run the upgrade again",))


@register("concurrent-index", "RH102", "RH201")
def drop_index(node, sql):
    """DROP INDEX takes ACCESS EXCLUSIVE on the table; DROP INDEX CONCURRENTLY waits for
    running queries instead of blocking new ones."""
    if not (isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_INDEX
            and not node.concurrent and len(node.objects or ()) == 1
            and node.behavior != enums.DropBehavior.DROP_CASCADE):
        return None
    new = copy.deepcopy(node)
    new.concurrent = True
    return single([Step(deparse(new), AUTOCOMMIT, "dropped without blocking reads; cannot run in a transaction")],
                  "concurrent-index", ("RH102",), "drop the index concurrently")
