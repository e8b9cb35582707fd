"""End-to-end fixtures: a "production" database on 5432 at a project's first revision."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

REPO = Path(__file__).resolve().parents[2]
PROJECTS = REPO / "tests" / "projects"
REHEARSE = [sys.executable, "-m", "rehearse.cli"]


def at_revision(project_ini: Path, url: str, revision: str) -> None:
    """Bring a source database to ``revision`` with the project's own Alembic setup."""
    cfg = Config(str(project_ini))
    cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg2://"))
    command.upgrade(cfg, revision)


def rehearse(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the real `rehearse` command line in a child process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([*REHEARSE, *args], capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=str(REPO))


def read_report(report_dir: Path) -> dict:
    return json.loads((report_dir / "report.json").read_text())


def leftover_clusters() -> list[str]:
    """Throwaway PostgreSQL servers still running from rehearse staging directories."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "postgres" in line and "rehearse" in line and " -D " in line]


@pytest.fixture()
def project():
    return lambda name: PROJECTS / name / "alembic.ini"
