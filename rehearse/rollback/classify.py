"""What a revision's ``downgrade()`` is, read from its source: real code, nothing, or a refusal.

``classify_downgrade(script)`` parses the revision file with ``ast`` (nothing is imported or
run) and answers "ok" (it does something), "missing" (no ``downgrade`` function), "pass"
(only ``pass``, a docstring or ``...``) or "raises" (it only raises, the usual way to declare
a migration irreversible). Where it stops being right: a body that calls a helper which does
nothing still counts as "ok"; the rehearsal's schema and data diffs judge what it really did.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

CLASSIFICATIONS = ("ok", "missing", "pass", "raises")


def _is_noop(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    # A docstring, a bare ``...`` or any other lone constant expression.
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def classify_source(source: str) -> str:
    """Classify the ``downgrade`` function (module level) of a revision's source text."""
    tree = ast.parse(source)
    function = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "downgrade":
            function = node  # the last definition wins, as at import time
    if function is None:
        return "missing"
    body = [stmt for stmt in function.body if not _is_noop(stmt)]
    if not body:
        return "pass"
    if all(isinstance(stmt, ast.Raise) for stmt in body):
        return "raises"
    return "ok"


def classify_downgrade(script: Any) -> str:
    """Classify a revision's downgrade: "ok" | "missing" | "pass" | "raises".

    ``script`` is a :class:`rehearse.model.GraphRevision` (its ``file``) or an Alembic ``Script``
    (its ``path``). Without a readable file: a GraphRevision answers from ``has_downgrade``, a
    Script from its loaded module.
    """
    path = getattr(script, "path", None) or getattr(script, "file", None)  # a ProjectGraph revision
    if path and Path(path).is_file() and str(path).endswith(".py"):
        return classify_source(Path(path).read_text(encoding="utf-8"))
    if hasattr(script, "has_downgrade"):
        return "ok" if script.has_downgrade else "missing"
    module = getattr(script, "module", None)
    return "ok" if callable(getattr(module, "downgrade", None)) else "missing"
