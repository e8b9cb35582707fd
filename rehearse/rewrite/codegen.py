"""Alembic revision files for a RewritePlan: readable `op.*` code, autocommit blocks, chained ids.

No formatter is a dependency of rehearse, so the code is templated to the shape black would
give it (4-space indents, lines under 100 characters, one call per step with its reason).
The original file lends its imports, its helpers and its downgrade(); the last release keeps
the original revision id, so revisions that point at it still chain.
"""

from __future__ import annotations

import ast
import textwrap
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .base import AUTOCOMMIT, BATCHED, COPY_RULES, RETRY, TXN, Release, Step
from .plan import RewritePlan

_BOOKKEEPING = {"revision", "down_revision", "branch_labels", "depends_on"}

_HELPERS = {
    RETRY: '''
LOCK_TIMEOUT = "2s"  # how long an exclusive statement may queue traffic behind it
LOCK_ATTEMPTS = 5


def _with_lock_timeout(sql: str) -> None:
    """Run ``sql`` (in an autocommit block) with a short lock_timeout; when the lock is not
    granted in time, let the transaction holding it finish and try again."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        try:
            op.execute(sql)
            return
        except sa.exc.OperationalError as exc:
            code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
            if code != "55P03" or attempt == LOCK_ATTEMPTS:  # 55P03: lock_not_available
                raise
            time.sleep(attempt)
        finally:
            op.execute("RESET lock_timeout")
''',
    BATCHED: '''
BATCH_ROWS = 5000


def _in_batches(table: str, update_sql: str, where: str | None = None) -> None:
    """Run ``update_sql`` over ``table`` BATCH_ROWS primary-key values at a time (in an
    autocommit block: one commit per batch, so no long transaction holds the rows)."""
    bind = op.get_bind()
    key = bind.execute(sa.text(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
        " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        " WHERE i.indrelid = CAST(:t AS regclass) AND i.indisprimary AND i.indnatts = 1"),
        {"t": table}).scalar()
    if key is None:
        raise RuntimeError(f"{table} has no one-column primary key to batch by")
    low, high = bind.execute(sa.text(f"SELECT min({key}), max({key}) FROM {table}")).one()
    if low is None:
        return
    if not isinstance(low, int):
        raise RuntimeError(f"the primary key of {table} is not an integer: cannot batch by ranges")
    extra = f" AND ({where})" if where else ""
    for start in range(low, high + 1, BATCH_ROWS):
        op.execute(f"{update_sql} WHERE {key} >= {start} AND {key} < {start + BATCH_ROWS}{extra}")
''',
    COPY_RULES: '''

def _copy_column_rules(table: str, source: str, target: str) -> None:
    """Give ``target`` the NOT NULL and DEFAULT that ``source`` has when this runs."""
    not_null, default = op.get_bind().execute(sa.text(
        "SELECT a.attnotnull, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a"
        " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE a.attrelid = CAST(:t AS regclass) AND a.attname = :c"),
        {"t": table, "c": source}).one()
    if default is not None:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {target} SET DEFAULT {default}")
    if not_null:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {target} SET NOT NULL")
''',
}


@dataclass(frozen=True)
class RevisionFile:
    revision: str
    down_revision: str | tuple[str, ...] | None
    filename: str
    text: str


def _literal(text: str, indent: int) -> list[str]:
    """A Python string literal for SQL: one line, or adjacent literals over several lines."""
    width = 99 - indent
    if len(repr(text)) <= width:
        return [repr(text)]
    parts = textwrap.wrap(text, width - 3, drop_whitespace=False, break_on_hyphens=False, break_long_words=False)
    return [repr(p) for p in parts]


def _invoke(name: str, args: list[tuple[str, str | None]], indent: int) -> list[str]:
    """``name(args)`` on one line when it fits, else one argument per line (as black would)."""
    pad = " " * indent
    flat = ", ".join(f"{k}={repr(v)}" if k else repr(v) for k, v in args)
    if len(pad) + len(name) + len(flat) + 2 <= 100:
        return [f"{pad}{name}({flat})"]
    out = [f"{pad}{name}("]
    for key, value in args:
        literal = _literal(value, indent + 4 + (len(key) + 1 if key else 0))
        out.append(f"{pad}    {key + '=' if key else ''}{literal[0]}")
        out.extend(f"{pad}    {' ' * (len(key) + 1) if key else ''}{p}" for p in literal[1:])
        out[-1] += ","
    out.append(f"{pad})")
    return out


def _call(step: Step, indent: int) -> list[str]:
    out = [f"{' ' * indent}# {step.why}"] if step.why else []
    if step.mode == RETRY:
        out += _invoke("_with_lock_timeout", [("", step.sql)], indent)
    elif step.mode == BATCHED:
        args = [("", step.table), ("", step.sql)] + ([("where", step.where)] if step.where else [])
        out += _invoke("_in_batches", args, indent)
    elif step.mode == COPY_RULES:
        out += _invoke("_copy_column_rules", [("", step.table), ("", step.column), ("", step.into)], indent)
    else:
        out += _invoke("op.execute", [("", step.sql)], indent)
    return out


def body(steps: tuple[Step, ...]) -> list[str]:
    """Function body: consecutive non-transactional steps share one autocommit block."""
    lines: list[str] = []
    block = False
    for step in steps:
        outside = step.mode in (AUTOCOMMIT, RETRY, BATCHED)
        if outside and not block:
            lines.append("    with op.get_context().autocommit_block():")
            block = True
        elif not outside and block:
            block = False
        lines.extend(_call(step, 8 if block else 4))
    return lines or ["    pass"]


class _Original:
    """What the original revision file lends: docstring, imports, helpers, downgrade()."""

    def __init__(self, path: Path | None) -> None:
        self.doc, self.imports, self.helpers, self.downgrade = "", [], [], None
        if path is None or not Path(path).is_file():
            return
        source = Path(path).read_text()
        tree = ast.parse(source)
        self.doc = ast.get_docstring(tree) or ""
        for node in tree.body:
            text = ast.get_source_segment(source, node)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.imports.append(text)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "downgrade":
                self.downgrade = text
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name != "upgrade":
                self.helpers.append(text)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                names = {t.id for t in getattr(node, "targets", [getattr(node, "target", None)])
                         if isinstance(t, ast.Name)}
                if not names & _BOOKKEEPING:
                    self.helpers.append(text)


def render_files(plan: RewritePlan, *, revision: str, down_revision, message: str,
                 original_file: str | None) -> list[RevisionFile]:
    """The rewritten revision file(s), in upgrade order."""
    original = _Original(Path(original_file) if original_file else None)
    stem = Path(original_file).stem if original_file else revision
    n = len(plan.releases)
    ids = [uuid.uuid4().hex[:12] for _ in range(n - 1)] + [revision]
    files = []
    down = down_revision
    for i, release in enumerate(plan.releases):
        rev_id = ids[i]
        suffix = "" if n == 1 else f"_{i + 1}of{n}"
        files.append(RevisionFile(rev_id, down, f"{stem}{suffix}.py",
                                  _render(plan, release, rev_id, down, message, original, i, n)))
        down = rev_id
    return files


def _render(plan: RewritePlan, release: Release, rev_id: str, down, message: str, original: _Original,
            index: int, count: int) -> str:
    steps = release.steps + (release.downgrade or ())
    modes = {s.mode for s in steps}
    head = message if count == 1 else f"{message} ({index + 1}/{count}: {release.message})"
    notes = [f"Rewritten by `rehearse fix` ({', '.join(plan.patterns)}; findings {', '.join(plan.codes)}):",
             f"{release.message}."]
    if count > 1:
        notes.append(f"Release {index + 1} of {count}: this change needs more than one release.")
    notes += [f"- {n}" for n in plan.notes]
    doc = [head, "", f"Revision ID: {rev_id}",
           f"Revises: {', '.join(down) if isinstance(down, tuple) else (down or '')}",
           f"Create Date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}", "",
           *[textwrap.fill(n, 96, subsequent_indent='  ') for n in notes]]
    imports = ["import time", "", "import sqlalchemy as sa", "from alembic import op"]
    extra = [i for i in original.imports if i not in imports]
    lines = ['"""' + "\n".join(doc).replace('"""', "'''") + '\n"""', *imports, *extra, "",
             f"revision = {rev_id!r}", f"down_revision = {tuple(down) if isinstance(down, tuple) else down!r}",
             "branch_labels = None", "depends_on = None", ""]
    for mode in (RETRY, BATCHED, COPY_RULES):
        if mode in modes:
            lines.append(_HELPERS[mode].rstrip() + "\n")
    last = index == count - 1
    if release.downgrade is None and last:
        lines += [h + "\n" for h in original.helpers]
    lines += ["", "def upgrade() -> None:", *body(release.steps), "", ""]
    if release.downgrade is None and original.downgrade and last:
        lines.append(original.downgrade)
    elif release.downgrade is None:
        lines += ["def downgrade() -> None:", "    pass"]
    else:
        lines += ["def downgrade() -> None:", *body(release.downgrade)]
    text = "\n".join(lines).rstrip() + "\n"
    compile(text, f"{rev_id}.py", "exec")  # a template bug must not reach a user's versions folder
    return text
