"""What a rewriter hands back, and the registry mapping finding codes to rewriters.

A rewriter looks at one parsed statement (pglast) that a finding pointed at and returns the
safer steps that reach the same end state: plain data (`Step`), turned into Alembic code by
``codegen``. Statements no rewriter claims are kept as they ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from pglast.stream import RawStream

# how a step runs: in the revision's transaction, alone in an autocommit block, through the
# lock_timeout-and-retry helper (autocommit too), or as a batched UPDATE (one commit per batch)
TXN, AUTOCOMMIT, RETRY, BATCHED = "transaction", "autocommit", "retry", "batched"
COPY_RULES = "copy-rules"  # NOT NULL and DEFAULT of one column onto another, read at upgrade time


@dataclass(frozen=True)
class Step:
    sql: str
    mode: str = TXN
    why: str = ""  # one comment line above the generated call
    table: str | None = None  # BATCHED: the table to walk by primary key
    where: str | None = None  # BATCHED: the original WHERE, kept inside each batch
    column: str | None = None  # COPY_RULES: the column whose NOT NULL / DEFAULT are copied...
    into: str | None = None  # ...onto this one


@dataclass(frozen=True)
class Release:
    """One revision of the rewrite; a pattern that needs several releases returns several."""

    message: str
    steps: tuple[Step, ...]
    downgrade: tuple[Step, ...] | None = None  # None: the original downgrade()


@dataclass(frozen=True)
class Rewritten:
    pattern: str  # e.g. "concurrent-index"
    codes: tuple[str, ...]  # finding codes it answers
    releases: tuple[Release, ...]  # one for most patterns
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rewriter:
    pattern: str
    codes: tuple[str, ...]
    fn: Callable  # (node, sql) -> Rewritten | None
    doc: str = ""
    fallback: bool = False  # tried only after every specific pattern (lock_timeout around anything)


REWRITERS: list[Rewriter] = []


def register(pattern: str, *codes: str, fallback: bool = False) -> Callable:
    def wrap(fn: Callable) -> Callable:
        REWRITERS.append(Rewriter(pattern, codes, fn, (fn.__doc__ or "").strip(), fallback))
        return fn
    return wrap


def rewriters_for(codes: Iterable[str]) -> list[Rewriter]:
    """Rewriters answering any of ``codes``: the specific patterns first, fallbacks last."""
    wanted = set(codes)
    return sorted((r for r in REWRITERS if wanted & set(r.codes)), key=lambda r: r.fallback)


def all_codes() -> set[str]:
    return {c for r in REWRITERS for c in r.codes}


def deparse(node) -> str:
    return RawStream()(node)


def single(steps: Iterable[Step], pattern: str, codes: tuple[str, ...], message: str,
           notes: tuple[str, ...] = ()) -> Rewritten:
    return Rewritten(pattern, codes, (Release(message, tuple(steps)),), notes)


def relname(rangevar) -> str:
    return f"{rangevar.schemaname}.{rangevar.relname}" if rangevar.schemaname else rangevar.relname


def one_alter(node, subtype_name: str):
    """The single subcommand of an ALTER TABLE when it is of ``subtype_name``, else None."""
    from pglast import ast, enums
    if not isinstance(node, ast.AlterTableStmt) or len(node.cmds or ()) != 1:
        return None
    cmd = node.cmds[0]
    if cmd.subtype != getattr(enums.AlterTableType, subtype_name):
        return None
    return cmd


def default_constraint_name(table: str, columns: list[str], suffix: str) -> str:
    """The name PostgreSQL would choose (table_col_suffix, cut to 63 bytes as it does)."""
    base = "_".join([table.split(".")[-1], *columns])
    return f"{base[: 63 - len(suffix) - 1]}_{suffix}"
