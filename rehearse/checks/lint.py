"""`rehearse lint`: static rules on an Alembic project's SQL, with no database.

Alembic's offline mode (``upgrade --sql``) renders every revision's SQL; the output marks
each revision with ``-- Running upgrade A -> B``, which is how findings name their revision.
The project's env.py must support offline mode (``run_migrations_offline``); most do.

While Alembic writes that SQL, a :class:`_LocatingBuffer` looks up the stack for the revision
module's frame and writes a ``-- rehearse-location: file:line:col`` comment (the ``op.`` call)
before each statement, plus the ignore directives of Python comments on or just above that
call, so findings point at the migration line and ``# rehearse-ignore: RH101`` works there.

Plain ``.sql`` files (or directories of them) are linted as they are: ``lint_paths``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from ..errors import BadInput
from ..model import Finding
from .engine import run_static
from .sqltools import LintState, parse

_MARKER = re.compile(r"^-- Running (upgrade|downgrade) (.*?) -> (\S+)\s*$", re.MULTILINE)
_PLACEHOLDER_URL = "postgresql+psycopg2://rehearse@localhost/rehearse_lint"


def render_offline_sql(alembic_ini: Path, revision_range: str | None = None, *, downgrade: bool = False) -> str:
    """The SQL Alembic would run for the range, rendered offline (no database)."""
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    alembic_ini = Path(alembic_ini)
    if not alembic_ini.is_file():
        raise BadInput(f"{alembic_ini} does not exist", hint="give the path of the project's alembic.ini")
    buffer = _LocatingBuffer()
    cfg = Config(str(alembic_ini), output_buffer=buffer)
    if not cfg.get_main_option("sqlalchemy.url"):
        cfg.set_main_option("sqlalchemy.url", _PLACEHOLDER_URL)  # offline mode only needs the dialect
    try:
        if downgrade:
            command.downgrade(cfg, revision_range or "head:base", sql=True)
        else:
            command.upgrade(cfg, revision_range or "heads", sql=True)
    except CommandError as exc:
        raise BadInput(f"alembic cannot render {revision_range or 'the migrations'} offline: {exc}",
                       hint="check the revision range, e.g. base:head or abc123:head") from None
    except Exception as exc:  # noqa: BLE001  env.py without offline support fails in arbitrary ways
        raise BadInput(f"env.py of {alembic_ini.parent} cannot run in offline mode "
                       f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})",
                       hint="make run_migrations_offline() work, or use `rehearse run` against a database") from None
    return buffer.getvalue()


def lint_offline_sql(sql: str, *, server_version_num: int = 150000, phase: str = "upgrade") -> list[Finding]:
    """Static findings for Alembic offline output, each attributed to the revision that emitted it."""
    markers = [(m.start(), m.group(3)) for m in _MARKER.finditer(sql)]
    state = LintState(server_version_num=server_version_num)
    findings: list[Finding] = []
    current: str | None = None
    for stmt in parse(sql):
        revision = current
        for pos, rev in markers:
            if pos <= stmt.start:
                revision = rev
        if revision != current:
            current = revision
            state.reported.clear()
            state.created.clear()
            state.validated.clear()
        if _is_alembic_bookkeeping(stmt):
            continue
        findings.extend(run_static([stmt], state, revision=current, phase=phase))
    return findings


def lint_project(alembic_ini: Path, *, revision_range: str | None = None, server_version_num: int = 150000,
                 downgrade: bool = False) -> list[Finding]:
    """Static rules over every revision of an Alembic project (upgrade, optionally downgrade)."""
    findings = lint_offline_sql(render_offline_sql(alembic_ini, revision_range),
                                server_version_num=server_version_num)
    if downgrade:
        down_range = None
        if revision_range and ":" in revision_range:
            start, end = revision_range.split(":", 1)
            down_range = f"{end}:{start or 'base'}"
        findings += lint_offline_sql(render_offline_sql(alembic_ini, down_range, downgrade=True),
                                     server_version_num=server_version_num, phase="downgrade")
    return findings


def _is_alembic_bookkeeping(stmt) -> bool:
    return "alembic_version" in stmt.sql.lower() and stmt.kind in (
        "CreateStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "DropStmt")


class _LocatingBuffer(io.StringIO):
    """Alembic's offline output, each statement preceded by where its revision issued it."""

    def __init__(self) -> None:
        super().__init__()
        self._sources: dict[str, list[str]] = {}

    def write(self, text: str) -> int:
        where = self._caller()
        if where is not None and text.strip():
            path, line = where
            lines = self._lines(path)
            code = lines[line - 1] if 0 < line <= len(lines) else ""
            column = code.find("op.") + 1 or len(code) - len(code.lstrip()) + 1
            marks = [f"-- rehearse-location: {path}:{line}:{column}"]
            marks += [f"-- {d}" for d in _python_directives(lines, line)]
            super().write("\n".join(marks) + "\n")
        return super().write(text)

    @staticmethod
    def _caller() -> tuple[str, int] | None:
        import sys

        frame = sys._getframe(2)
        while frame is not None:
            module = frame.f_globals
            # an Alembic revision module: it defines revision and down_revision at top level
            if "revision" in module and "down_revision" in module and frame.f_code.co_filename.endswith(".py"):
                return frame.f_code.co_filename, frame.f_lineno
            frame = frame.f_back
        return None

    def _lines(self, path: str) -> list[str]:
        if path not in self._sources:
            try:
                self._sources[path] = Path(path).read_text(encoding="utf-8").splitlines()
            except OSError:
                self._sources[path] = []
        return self._sources[path]


def revision_directives(path: str, line: int) -> list[str]:
    """Ignore directives that apply to the op call at ``path:line`` of a revision file."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    return _python_directives(lines, line)


_PY_DIRECTIVE = re.compile(r"#\s*((?:rehearse|squawk)-ignore(?:-file)?\b[^#\n]*)", re.IGNORECASE)


def _python_directives(lines: list[str], line: int) -> list[str]:
    """Ignore directives on the op call's line, the comment lines just above it, or anywhere as -file.

    A ``-file`` directive in a revision covers that revision only, so it is passed on as a
    statement directive (the offline SQL of every revision is one text).
    """
    found: list[str] = []
    code = lines[line - 1] if 0 < line <= len(lines) else ""
    found += [m.group(1).strip() for m in _PY_DIRECTIVE.finditer(code)]
    above = line - 2
    while above >= 0 and lines[above].lstrip().startswith("#"):
        found += [m.group(1).strip() for m in _PY_DIRECTIVE.finditer(lines[above])]
        above -= 1
    for text in lines:
        for m in _PY_DIRECTIVE.finditer(text):
            directive = m.group(1).strip()
            if re.match(r"(rehearse|squawk)-ignore-file", directive, re.IGNORECASE):
                found.append(re.sub(r"-ignore-file", "-ignore", directive, count=1, flags=re.IGNORECASE))
    return [d for d in found if not re.match(r"(rehearse|squawk)-ignore-file", d, re.IGNORECASE)]


SQL_SUFFIXES = (".sql",)


def sql_files(paths: list[Path]) -> list[Path]:
    """The .sql files named, and those under the directories named (sorted), or BadInput."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in SQL_SUFFIXES and p.is_file())
        elif path.is_file():
            _refuse_non_sql(path)
            files.append(path)
        else:
            raise BadInput(f"{path} does not exist", hint="pass .sql files or directories that contain them")
    if not files:
        raise BadInput(f"no .sql file in {', '.join(str(p) for p in paths)}",
                       hint="pass .sql files, a directory of them, or --alembic-ini for an Alembic project")
    return files


_NOT_SQL = {".ini": "an Alembic or other config file", ".cfg": "a config file", ".py": "Python (an Alembic revision?)",
            ".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}


def _refuse_non_sql(path: Path) -> None:
    """A file named on the command line is read as SQL whatever its suffix (.psql, none), except
    these: linted as SQL they would only give a syntax error on line 1, which is no finding."""
    suffix = path.suffix.lower()
    what = _NOT_SQL.get(suffix)
    if what is None:
        return
    if suffix in (".ini", ".py"):
        hint = f"lint an Alembic project with --alembic-ini {path if suffix == '.ini' else 'ALEMBIC_INI'}"
    else:
        hint = "pass .sql files, or a directory of them"
    raise BadInput(f"{path} is {what}, not SQL", hint=hint)


def lint_paths(paths: list[Path], *, server_version_num: int = 150000,
               assume_in_transaction: bool = False) -> list[Finding]:
    """Static rules over plain SQL files: each file is one migration, findings at file:line:col."""
    from .engine import lint_sql

    findings: list[Finding] = []
    for path in sql_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read {path}: {exc}", hint="pass UTF-8 SQL files") from None
        findings += lint_sql(text, location=str(path), server_version_num=server_version_num,
                             assume_in_transaction=assume_in_transaction)
    return findings
