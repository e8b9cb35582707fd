"""What a CI log shows: `--version`, `-q` keeping the lines a user needs, the summary uncut."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg2

from rehearse import __version__

REPO = Path(__file__).resolve().parent.parent.parent
SERVER_URL = os.environ.get("REHEARSE_TEST_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SERVER_DSN = os.environ.get("REHEARSE_TEST_SERVER", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def rehearse(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80"}  # what a CI runner's log looks like: no TTY, 80 columns
    return subprocess.run([sys.executable, "-m", "rehearse.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300, stdin=subprocess.DEVNULL)


def test_version_flag_and_command():
    for args in (["--version"], ["version"]):
        proc = rehearse(*args)
        assert proc.returncode == 0 and proc.stdout.strip() == f"rehearse {__version__}", proc.stderr


def test_quiet_run_keeps_the_connect_hint_and_the_report_paths(source_db, tmp_path):
    _, url, _ = source_db
    proc = rehearse("run", "--alembic-ini", str(REPO / "tests" / "projects" / "clean" / "alembic.ini"),
                    "--source", url, "--no-strict", "--staging", SERVER_URL, "--keep", "-q", "--report-dir", str(tmp_path / "r"),
                    cwd=tmp_path)
    kept = re.search(r'DROP DATABASE "(rehearse_\w+)"', proc.stderr)
    try:
        assert proc.returncode == 0, proc.stderr
        assert kept, proc.stderr
        assert re.search(r'^staging kept: psql "host=\S+ port=\d+ user=\w+ dbname=rehearse_\w+"', proc.stderr, re.M)
        assert f"reports: {tmp_path / 'r' / 'report.json'}, {tmp_path / 'r' / 'report.md'}" in proc.stderr
        assert "·" not in proc.stderr  # the progress lines are what -q drops
        # the summary, in list form since this is no terminal: whole lines, nothing cut
        assert "…" not in proc.stdout
        assert re.search(r"^revision clean02: \S", proc.stdout, re.M)
        assert "outcome: pass" in proc.stdout
    finally:
        if kept:  # only the database this test kept
            conn = psycopg2.connect(SERVER_DSN)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{kept.group(1)}" WITH (FORCE)')
            conn.close()
