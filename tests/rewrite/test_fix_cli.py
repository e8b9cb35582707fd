"""`rehearse fix` and `rehearse run --suggest-rewrites` through the real command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

REPO = Path(__file__).resolve().parents[2]
PROJECTS = REPO / "tests" / "projects"


def rehearse(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rehearse.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=str(REPO), env=dict(os.environ))


def _project(tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(PROJECTS / name, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy / "alembic.ini"


def _seed(ini: Path, url: str) -> None:
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg2://"))
    command.upgrade(cfg, "r01")


def test_fix_diff_prints_a_patch_and_writes_nothing(tmp_path):
    ini = _project(tmp_path, "rewrite_not_null")
    before = sorted(p.name for p in (ini.parent / "versions").iterdir())
    proc = rehearse("fix", "r02", "--alembic-ini", str(ini), "--diff")
    assert proc.returncode == 0, proc.stderr
    assert "+        _with_lock_timeout(" in proc.stdout
    assert "-    op.alter_column(\"events\", \"ref\"" in proc.stdout
    assert "VALIDATE CONSTRAINT events_ref_not_null" in proc.stdout
    assert sorted(p.name for p in (ini.parent / "versions").iterdir()) == before


def test_fix_says_when_a_change_needs_more_than_one_release(tmp_path):
    ini = _project(tmp_path, "rewrite_type_change")
    proc = rehearse("fix", "r02", "--alembic-ini", str(ini))
    assert proc.returncode == 0, proc.stderr
    assert "needs more than one release: 4 revisions" in proc.stderr
    names = sorted(p.name for p in (ini.parent / "versions").glob("r02_*.py"))
    assert names == [f"r02_amount_bigint_{i}of4.py" for i in range(1, 5)]


def test_fix_with_a_snapshot_proves_then_writes(tmp_path, source_db):
    _, url, _ = source_db
    ini = _project(tmp_path, "rewrite_index")
    _seed(ini, url)
    snap = tmp_path / "snap"
    assert rehearse("snapshot", url, "-o", str(snap), "--no-strict").returncode == 0
    proc = rehearse("fix", "r02", "--alembic-ini", str(ini), "--snapshot", str(snap))
    assert proc.returncode == 0, proc.stderr
    assert "original: ShareLock" in proc.stderr
    assert "suggested: same schema and data" in proc.stderr
    written = (ini.parent / "versions" / "r02_index_account.py").read_text()
    assert "CREATE INDEX CONCURRENTLY ix_events_account_id ON events (account_id)" in written
    assert "autocommit_block()" in written


def test_run_suggest_rewrites_puts_the_comparison_and_diff_in_the_report(tmp_path, source_db):
    _, url, _ = source_db
    ini = _project(tmp_path, "rewrite_foreign_key")
    _seed(ini, url)
    snap = tmp_path / "snap"
    assert rehearse("snapshot", url, "-o", str(snap), "--no-strict").returncode == 0
    out = tmp_path / "r"
    proc = rehearse("run", "--snapshot", str(snap), "--alembic-ini", str(ini), "--report-dir", str(out),
                    "--format", "json", "--format", "md", "--format", "html", "--suggest-rewrites", "-q")
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads((out / "report.json").read_text())
    [rewrite] = report["rewrites"]
    assert rewrite["revision"] == "r02" and rewrite["patterns"] == ["not-valid-foreign-key"]
    assert rewrite["suggested"], rewrite["reason"]
    assert rewrite["schema_equal"] and rewrite["data_equal"]
    md = (out / "report.md").read_text()
    assert "Suggested rewrite" in md and "```diff" in md and "NOT VALID" in md
    # the report still reads back and renders with the rewrites in it
    again = rehearse("report", str(out / "report.json"), "--format", "markdown")
    assert again.returncode == 0 and "Suggested rewrite" in again.stdout
    page = (out / "report.html").read_text()
    assert "Suggested rewrite</h3>" in page and "not-valid-foreign-key" in page and "NOT VALID" in page
    assert '<pre class="diff">' in page
    terminal = rehearse("report", str(out / "report.json"), "--format", "terminal")
    [line] = [line for line in terminal.stdout.splitlines() if line.startswith("rewrite ")]
    assert line.startswith("rewrite r02 not-valid-foreign-key: suggested; lock ")


def test_fix_bad_input_is_one_line_and_exit_2(tmp_path):
    ini = PROJECTS / "rewrite_index" / "alembic.ini"
    unknown = rehearse("fix", "zzz", "--alembic-ini", str(ini))
    assert unknown.returncode == 2 and "revision zzz is not in" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    missing = rehearse("fix", "r02", "--alembic-ini", str(ini), "--snapshot", str(tmp_path / "none"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_fix_on_a_revision_without_a_safe_pattern_changes_nothing(tmp_path):
    ini = _project(tmp_path, "rewrite_index")
    proc = rehearse("fix", "r01", "--alembic-ini", str(ini))
    assert proc.returncode == 0 and "no finding on r01 has a known safe rewrite" in proc.stdout
    assert (ini.parent / "versions" / "r01_seed_events.py").read_text() == \
        (PROJECTS / "rewrite_index" / "versions" / "r01_seed_events.py").read_text()
