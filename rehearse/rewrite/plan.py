"""From a revision's statements and findings to the rewritten release(s): which statement each
finding points at, which rewriter answers it, and what is kept as it ran."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..checks.sqltools import parse
from ..model import Finding
# the pattern modules register themselves on import
from . import (batched_backfill, concurrent_index, lock_timeout, not_null, not_valid,  # noqa: F401
               type_change, unique_index)
from .base import AUTOCOMMIT, TXN, Release, Rewritten, Step, all_codes, rewriters_for


@dataclass(frozen=True)
class RewritePlan:
    revision: str
    releases: tuple[Release, ...]  # in upgrade order; the last one keeps the original revision id
    applied: tuple[Rewritten, ...]  # what was rewritten
    kept: tuple[str, ...]  # statements kept as they ran
    notes: tuple[str, ...]

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.pattern for r in self.applied))

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for r in self.applied for c in r.codes))


def _squash(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").rstrip("…")


def _findings_on(sql: str, findings: Sequence[Finding]) -> list[Finding]:
    text = _squash(sql)
    return [f for f in findings if f.statement and (text.startswith(_squash(f.statement)) or
                                                    _squash(f.statement).startswith(text))]


def _outside(node) -> bool:
    """A kept statement PostgreSQL refuses inside a transaction block."""
    from pglast import ast
    if isinstance(node, ast.VacuumStmt):
        return True
    if isinstance(node, ast.ReindexStmt):
        return any(getattr(o, "defname", "") == "concurrently" for o in (node.params or ()))
    return isinstance(node, (ast.IndexStmt, ast.DropStmt)) and bool(getattr(node, "concurrent", False))


def plan_rewrite(revision: str, statements: Iterable[str], findings: Sequence[Finding]) -> RewritePlan | None:
    """The rewrite of one revision, or None when no finding on it has a known safe pattern."""
    findings = [f for f in findings if f.code in all_codes() and f.phase == "upgrade"]
    if not findings:
        return None
    before: list[Step] = []  # statements before (and, without a multi-release pattern, all of them)
    after: list[Step] = []
    middle: tuple[Release, ...] = ()
    applied: list[Rewritten] = []
    kept: list[str] = []
    for raw in statements:
        for stmt in parse(raw):
            target = after if middle else before
            done = None
            on_it = _findings_on(stmt.sql, findings)
            if stmt.node is not None and on_it:
                for rewriter in rewriters_for(f.code for f in on_it):
                    done = rewriter.fn(stmt.node, stmt.sql.strip().rstrip(";"))
                    if done is not None and (len(done.releases) == 1 or not middle):
                        break
                    done = None
            if done is None:
                target.append(Step(stmt.sql.strip().rstrip(";"), AUTOCOMMIT if _outside(stmt.node) else TXN))
                kept.append(stmt.sql.strip())
                continue
            applied.append(done)
            if len(done.releases) == 1:
                target.extend(done.releases[0].steps)
            else:
                first, *rest = done.releases
                before.extend(first.steps)
                middle = (Release(first.message, tuple(before), first.downgrade), *rest)
    if not applied:
        return None
    if middle:
        *head, last = middle
        releases = (*head, Release(last.message, last.steps + tuple(after), last.downgrade))
    else:
        releases = (Release("; ".join(dict.fromkeys(r.releases[0].message for r in applied)), tuple(before)),)
    notes = tuple(dict.fromkeys(n for r in applied for n in r.notes))
    return RewritePlan(revision, tuple(releases), tuple(applied), tuple(kept), notes)
