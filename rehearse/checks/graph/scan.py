"""Reads revision modules with ``ast`` (never importing them) into a small graph description.

Reading the files ourselves keeps the graph rules working when Alembic itself would refuse
the directory (a duplicate id, a missing down revision) — the very cases worth reporting.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..base import Hit, Rule


@dataclass(frozen=True)
class RevisionFile:
    revision: str
    down_revisions: tuple[str, ...]
    path: str
    downgrade: str  # "ok" | "missing" | "pass" | "raises"
    downgrade_line: int | None = None
    upgrade: str = "ok"  # same classification: a merge revision's upgrade is usually "pass"


@dataclass
class Graph:
    revisions: list[RevisionFile] = field(default_factory=list)

    def by_id(self) -> dict[str, RevisionFile]:
        return {r.revision: r for r in self.revisions}

    def heads(self) -> list[str]:
        referenced = {d for r in self.revisions for d in r.down_revisions}
        return sorted({r.revision for r in self.revisions} - referenced)

    def bases(self) -> list[str]:
        return sorted(r.revision for r in self.revisions if not r.down_revisions)

    def reachable(self) -> set[str]:
        children: dict[str, list[str]] = {}
        for r in self.revisions:
            for d in r.down_revisions:
                children.setdefault(d, []).append(r.revision)
        by_id = self.by_id()
        seen: set[str] = set()
        todo = self.bases()
        while todo:
            rev = todo.pop()
            if rev in seen:
                continue
            # a merge is reachable only when all its parents are
            if any(d not in seen for d in by_id[rev].down_revisions):
                continue
            seen.add(rev)
            todo.extend(children.get(rev, []))
        return seen


class GraphRule(Rule):
    kind: ClassVar[str] = "graph"

    def check(self, graph: Graph) -> Iterator[tuple[str | None, str | None, Hit]]:  # pragma: no cover
        """Yield (revision, location, hit)."""
        raise NotImplementedError


def scan(locations: list[Path], recursive: bool = False) -> Graph:
    graph = Graph()
    for loc in locations:
        files = loc.rglob("*.py") if recursive else loc.glob("*.py")
        for path in sorted(files):
            info = read_revision(path)
            if info is not None:
                graph.revisions.append(info)
    return graph


def read_revision(path: Path) -> RevisionFile | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError):
        return None
    values: dict[str, Any] = {}
    funcs: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        if target in ("revision", "down_revision"):
            try:
                values[target] = ast.literal_eval(value)
            except ValueError:
                pass
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs[node.name] = node
    if not isinstance(values.get("revision"), str):
        return None
    down = values.get("down_revision")
    downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
    fn = funcs.get("downgrade")
    return RevisionFile(values["revision"], downs, str(path), _classify(fn), fn.lineno if fn else None,
                        _classify(funcs.get("upgrade")))


def _classify(fn: ast.FunctionDef | None) -> str:
    if fn is None:
        return "missing"
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if all(isinstance(s, ast.Pass) for s in body):
        return "pass"
    if all(isinstance(s, ast.Raise) for s in body):
        return "raises"
    return "ok"
