"""A rewrite that does not end in the same schema is not suggested, and says why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from rehearse import api
from rehearse.rewrite.suggest import plan_fix, prove
from rehearse.snapshot.format import read_snapshot

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "tests" / "projects" / "rewrite_type_change_indexed"


def test_a_rewrite_that_loses_an_index_is_not_suggested(tmp_path, source_db):
    _, url, _ = source_db
    ini = tmp_path / "p" / "alembic.ini"
    shutil.copytree(PROJECT, ini.parent, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg2://"))
    command.upgrade(cfg, "r01")
    snap = api.snapshot(url, tmp_path / "snap").path

    result = prove(plan_fix(ini, "r02"), ini, read_snapshot(snap))
    assert not result.suggested
    assert result.schema_equal is False
    assert "does not end in the same schema" in result.reason and "ix_events_amount" in result.reason

    # `fix --snapshot` refuses to write it (exit 1) and leaves the versions folder alone
    before = sorted(p.name for p in (ini.parent / "versions").glob("*.py"))
    proc = subprocess.run([sys.executable, "-m", "rehearse.cli", "fix", "r02", "--alembic-ini", str(ini),
                           "--snapshot", str(snap)], capture_output=True, text=True, timeout=600,
                          cwd=str(REPO), env=dict(os.environ))
    assert proc.returncode == 1, proc.stderr
    assert "not suggested: the rewrite does not end in the same schema" in proc.stderr
    assert sorted(p.name for p in (ini.parent / "versions").glob("*.py")) == before
