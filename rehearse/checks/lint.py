"""`rehearse lint`: static rules on an Alembic project's SQL, with no database.

Alembic's offline mode (``upgrade --sql``) renders every revision's SQL; the output marks
each revision with ``-- Running upgrade A -> B``, which is how findings name their revision.
The project's env.py must support offline mode (``run_migrations_offline``); most do.
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
    buffer = io.StringIO()
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
