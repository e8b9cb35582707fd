"""A whole-table UPDATE (a backfill) -> batches by primary key with a commit per batch (RH156, RH201)."""

from __future__ import annotations

import copy

from pglast import ast

from .base import BATCHED, Step, deparse, register, relname, single


@register("batched-backfill", "RH156", "RH201", "RH203")
def backfill(node, sql):
    """One UPDATE of every row holds its row locks (and a long transaction) until it ends:
    writers to the same rows wait, and vacuum cannot clean up. Batches commit as they go."""
    returning = getattr(node, "returningClause", None) or getattr(node, "returningList", None)  # pglast 7 / 6
    if not isinstance(node, ast.UpdateStmt) or node.fromClause or returning or node.withClause:
        return None
    table = relname(node.relation)
    new, where = node, None
    if node.whereClause is not None:
        # the original condition is kept inside every batch, after the key range
        new = copy.deepcopy(node)
        new.whereClause = None
        where = deparse(node.whereClause)
    return single([Step(deparse(new), BATCHED, "a commit per batch: no long transaction, row locks held briefly",
                        table=table, where=where)],
                  "batched-backfill", ("RH156", "RH201"), "backfill in batches",
                  ("the batches run outside the revision's transaction: a failure leaves earlier batches applied, "
                   "and running the upgrade again continues where it stopped only if the UPDATE is idempotent",))
