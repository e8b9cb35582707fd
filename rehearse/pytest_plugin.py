"""rehearse as a pytest plugin: the migration checks as tests in a project's own suite.

Installed with the package (entry point ``pytest11``), it stays silent until asked:
``pytest --rehearse`` adds three tests that fail with the one-line reasons rehearse's
report gives:

- ``rehearse::graph``: the revision graph (one head, every downgrade present, ...);
- ``rehearse::static``: the static rules on the SQL each revision renders offline;
- ``rehearse::rollback``: the rehearsal itself, upgrade, downgrade step by step and
  re-upgrade, with the rollback proof (schema and data come back), on an empty database
  (default) or a seeded one (``--rehearse-source URL`` read only, or ``--rehearse-snapshot``).

Staging is a local throwaway cluster, or a scratch database on ``--rehearse-url SERVER``.
The same pieces are fixtures for hand-written tests: ``rehearse_settings``,
``rehearse_graph_findings``, ``rehearse_lint_findings`` and ``rehearse_report`` (one
rehearsal per session). Only glue lives here; the work is rehearse.api's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import model

SEVERITY_LEVELS = model.SEVERITIES


@dataclass(frozen=True)
class RehearseSettings:
    """What the plugin runs on, from the command line or [pytest] ini options."""

    alembic_ini: Path
    staging: str = "local"  # "local" or a server URL for scratch databases
    source: str | None = None  # a seeded database to snapshot (read only)
    snapshot: Path | None = None  # or a snapshot written by `rehearse snapshot`
    fail_on: str = "high"  # static and graph findings at or above this severity fail
    report_dir: Path | None = None  # where the rehearsal's reports go (none: not written)


class RehearseCheckFailed(Exception):
    """A check failed; its lines are the report's reasons, shown without a traceback."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rehearse", "rehearse: rehearse the Alembic migrations")
    group.addoption("--rehearse", action="store_true", default=False,
                    help="add rehearse's graph, static and rollback tests to the run")
    group.addoption("--rehearse-ini", default=None,
                    help="the project's alembic.ini (default: ini option rehearse_alembic_ini, or alembic.ini)")
    group.addoption("--rehearse-url", default=None,
                    help="a PostgreSQL server URL for scratch databases (default: a local throwaway cluster)")
    group.addoption("--rehearse-source", default=None,
                    help="rehearse on a snapshot of this seeded database (only read) instead of an empty one")
    group.addoption("--rehearse-snapshot", default=None, help="rehearse on this snapshot directory")
    group.addoption("--rehearse-fail-on", default=None, choices=SEVERITY_LEVELS,
                    help="severity of a static or graph finding that fails its test (default high)")
    group.addoption("--rehearse-report-dir", default=None, help="also write the rehearsal's reports here")
    parser.addini("rehearse_alembic_ini", "the project's alembic.ini, relative to the rootdir", default="alembic.ini")
    parser.addini("rehearse_url", "a PostgreSQL server URL for scratch databases", default="")
    parser.addini("rehearse_fail_on", "severity of a finding that fails the static and graph tests", default="high")


def _settings(config: pytest.Config) -> RehearseSettings:
    ini = config.getoption("rehearse_ini") or config.getini("rehearse_alembic_ini")
    path = Path(ini)
    if not path.is_absolute():
        base = Path.cwd() if config.getoption("rehearse_ini") else Path(config.rootpath)
        path = base / path
    snapshot = config.getoption("rehearse_snapshot")
    report_dir = config.getoption("rehearse_report_dir")
    return RehearseSettings(
        alembic_ini=path,
        staging=config.getoption("rehearse_url") or config.getini("rehearse_url") or "local",
        source=config.getoption("rehearse_source"),
        snapshot=Path(snapshot) if snapshot else None,
        fail_on=config.getoption("rehearse_fail_on") or config.getini("rehearse_fail_on") or "high",
        report_dir=Path(report_dir) if report_dir else None,
    )


# --- the work, as plain functions (fixtures and items share them) ------------------------------


def graph_findings(settings: RehearseSettings) -> list[model.Finding]:
    from .checks import check_graph

    return check_graph(settings.alembic_ini)


def lint_findings(settings: RehearseSettings) -> list[model.Finding]:
    from . import api

    return api.lint(settings.alembic_ini)


@contextlib.contextmanager
def _empty_source(settings: RehearseSettings):
    """An empty database to snapshot: a throwaway one on the same staging backend."""
    from .staging import open_staging

    with open_staging(settings.staging, run_id=f"src{uuid.uuid4().hex[:8]}") as db:
        yield db.url


@contextlib.contextmanager
def _secret_for_empty_source():
    """An empty database holds nothing to anonymize, but the snapshot step wants a key."""
    if os.environ.get("REHEARSE_SECRET"):
        yield
        return
    os.environ["REHEARSE_SECRET"] = secrets.token_hex(16)
    try:
        yield
    finally:
        os.environ.pop("REHEARSE_SECRET", None)


def rehearse(settings: RehearseSettings) -> model.Report:
    """Upgrade, downgrade step by step, re-upgrade, with the rollback proof; returns the Report."""
    from . import api
    from .config import RunConfig

    def run(source: str | None) -> model.Report:
        cfg = RunConfig(alembic_ini=settings.alembic_ini, snapshot=settings.snapshot, source=source,
                        staging=settings.staging, formats=(), report_dir=settings.report_dir or Path("reports"))
        report = api.run(cfg)
        if settings.report_dir is not None:
            from .report import write_reports
            write_reports(report, settings.report_dir, ["json", "md", "html"])
        return report

    if settings.snapshot is not None:
        return run(None)
    if settings.source is not None:
        return run(settings.source)
    with _secret_for_empty_source(), _empty_source(settings) as url:
        return run(url)


def finding_line(f: model.Finding) -> str:
    where = f" at {f.location}" if f.location else (f" in {f.revision}" if f.revision else "")
    return f"{f.code} {f.name} ({f.severity}){where}: {f.message}"


def findings_reasons(findings: list[model.Finding], fail_on: str) -> list[str]:
    """One line per finding that reaches ``fail_on`` (accepted ones never do)."""
    floor = model.severity_rank(fail_on)
    return [finding_line(f) for f in findings if not f.accepted and model.severity_rank(f.severity) >= floor]


def rollback_reasons(report: model.Report) -> list[str]:
    """The report's own reasons for a failed outcome, one line each."""
    if report.outcome == "pass":
        return []
    return list(report.failures) or [f"the rehearsal's outcome is {report.outcome}"]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rehearse_settings(pytestconfig: pytest.Config) -> RehearseSettings:
    """Where and on what rehearse runs (--rehearse-* options and rehearse_* ini options)."""
    return _settings(pytestconfig)


@pytest.fixture(scope="session")
def rehearse_graph_findings(rehearse_settings: RehearseSettings) -> list[model.Finding]:
    return graph_findings(rehearse_settings)


@pytest.fixture(scope="session")
def rehearse_lint_findings(rehearse_settings: RehearseSettings) -> list[model.Finding]:
    return lint_findings(rehearse_settings)


@pytest.fixture(scope="session")
def rehearse_report(rehearse_settings: RehearseSettings) -> model.Report:
    """One rehearsal per session (upgrade, downgrade, re-upgrade with the rollback proof)."""
    return rehearse(rehearse_settings)


# --- the tests --rehearse adds -----------------------------------------------------------------


_SESSION_REPORT = pytest.StashKey[model.Report]()


class RehearseItem(pytest.Item):
    """One of rehearse's checks as a test; fails with one line per reason."""

    def __init__(self, *, check: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        from .errors import RehearseError

        settings = _settings(self.config)
        try:
            if self.check == "graph":
                lines = findings_reasons(graph_findings(settings), settings.fail_on)
            elif self.check == "static":
                lines = findings_reasons(lint_findings(settings), settings.fail_on)
            else:
                report = rehearse(settings)
                self.config.stash[_SESSION_REPORT] = report
                lines = rollback_reasons(report)
        except RehearseError as exc:
            lines = [f"rehearse could not run: {exc.one_line()}"]
        if lines:
            raise RehearseCheckFailed(lines)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, RehearseCheckFailed):
            return "\n".join(excinfo.value.lines)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"rehearse::{self.check}"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    if not config.getoption("rehearse"):
        return
    settings = _settings(config)
    for check in ("graph", "static", "rollback"):
        item = RehearseItem.from_parent(session, name=f"rehearse::{check}", nodeid=f"rehearse::{check}",
                                        check=check)
        item.path = settings.alembic_ini  # failures point at the project
        items.append(item)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if not config.getoption("rehearse"):
        return None
    s = _settings(config)
    where = s.snapshot or (s.source and "a seeded source") or "an empty database"
    staging = "a local throwaway cluster" if s.staging == "local" else "scratch databases on --rehearse-url"
    return [f"rehearse: {s.alembic_ini} on {where}, staging in {staging}"]
