"""The project's migrations run in the project's own Python (``rehearse run --python``).

Each project here lives in a venv of its own, built once by scripts/test-venvs.sh (and reused):
SQLAlchemy 1.4 + Alembic 1.7 + psycopg2, SQLAlchemy 2.0 + psycopg 3, SQLAlchemy 2.1 + asyncpg.
rehearse itself stays in its own venv (SQLAlchemy 2.x, psycopg2, pglast) and runs as a real
subprocess against a real source database and a throwaway staging cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECTS = Path(__file__).parent / "projects"


def project_python(name: str) -> str:
    """The interpreter of test venv ``name``, built by scripts/test-venvs.sh when missing."""
    out = subprocess.run(["bash", str(REPO / "scripts" / "test-venvs.sh"), name], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    python = Path(out.stdout.strip().splitlines()[-1]) / name / "bin" / "python"
    assert python.is_file(), out
    return str(python)


def rehearse(tmp_path: Path, url: str, ini: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    env = dict(os.environ, REHEARSE_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run(
        [sys.executable, "-m", "rehearse.cli", "run", "--source", url, "--no-strict", "--alembic-ini", str(ini),
         "--report-dir", str(tmp_path / "r"), "--format", "json", *extra],
        capture_output=True, text=True, env=env, cwd=str(REPO), timeout=600)
    report = tmp_path / "r" / "report.json"
    return out, json.loads(report.read_text()) if report.exists() else None


def _assert_rehearsed(report: dict, ids: list[str]) -> None:
    assert [r["id"] for r in report["revisions"]] == ids
    for rev in report["revisions"]:
        assert rev["upgrade"]["ok"], rev["upgrade"]
        assert rev["downgrade"]["ok"], rev["downgrade"]
        assert rev["rollback"]["ok"], rev["rollback"]
        assert rev["upgrade"]["statements"], "the child reports every statement it traced"


def test_sqlalchemy_14_project_runs_in_its_own_venv(tmp_path, source_db):
    _, url, _ = source_db
    python = project_python("sa14")
    version = subprocess.run([python, "-c", "import sqlalchemy, alembic; print(sqlalchemy.__version__, "
                              "alembic.__version__)"], capture_output=True, text=True, check=True).stdout.split()
    assert version[0].startswith("1.4.") and version[1].startswith("1.7."), version
    out, report = rehearse(tmp_path, url, PROJECTS / "sa14_app" / "alembic.ini", "--python", python)
    assert out.returncode == 0, out.stderr
    _assert_rehearsed(report, ["s141", "s142"])
    (s142,) = [r for r in report["revisions"] if r["id"] == "s142"]
    statements = s142["upgrade"]["statements"]
    # traced in the child on the migration's connection: the lock of the ALTER, the backfill's row count
    add = next(s for s in statements if "ADD COLUMN level" in s["sql"])
    assert any(lock["relation"] == "public.members" and lock["mode"] == "AccessExclusiveLock"
               for lock in add["locks"]), add  # first taken there, held until commit
    alter = next(s for s in statements if "SET NOT NULL" in s["sql"])
    update = next(s for s in statements if s["sql"].startswith("UPDATE members"))
    assert update["rows_affected"] == 300
    assert update["location"].endswith("s142_add_members_level.py:17"), update["location"]
    # the probe planned by the parent (pglast) ran in the child, inside the migration's transaction
    (probe,) = alter["probes"]["violations"]
    assert (probe["kind"], probe["table"], probe["column"], probe["rows"]) == ("not_null", "public.members", "level", 0)


def test_sqlalchemy_14_project_fails_in_rehearse_own_python(tmp_path, source_db):
    """The same project in rehearse's interpreter (SQLAlchemy 2.x) cannot run: what --python is for."""
    _, url, _ = source_db
    out, report = rehearse(tmp_path, url, PROJECTS / "sa14_app" / "alembic.ini", "--python", sys.executable)
    assert out.returncode == 1, out.stderr
    assert not report["revisions"][0]["upgrade"]["ok"]
    assert "Not an executable object" in report["revisions"][0]["upgrade"]["error"]


@pytest.mark.parametrize("venv, name, ids", [("sa20", "sa20_psycopg3", ["p201", "p202"]),
                                             ("sa21", "sa21_asyncpg", ["a211", "a212"])])
def test_sqlalchemy_2_projects_with_their_own_driver(tmp_path, source_db, venv, name, ids):
    _, url, _ = source_db
    python = project_python(venv)
    out, report = rehearse(tmp_path, url, PROJECTS / name / "alembic.ini", "--python", python)
    assert out.returncode == 0, out.stderr
    _assert_rehearsed(report, ids)
    index = next(s for s in report["revisions"][1]["upgrade"]["statements"] if "CREATE INDEX" in s["sql"])
    assert any(lock["mode"] == "ShareLock" for lock in index["locks"]), index


def test_python_that_cannot_import_alembic_is_one_line(tmp_path, source_db):
    _, url, _ = source_db
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    out, _ = rehearse(tmp_path, url, PROJECTS / "sa14_app" / "alembic.ini", "--python", str(bare / "bin" / "python"))
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("rehearse:")]
    assert len(lines) == 1 and "No module named" in lines[0] and "--python" in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_python_path_that_does_not_exist_is_bad_input(tmp_path, source_db):
    _, url, _ = source_db
    out, report = rehearse(tmp_path, url, PROJECTS / "sa14_app" / "alembic.ini", "--python", "/nonexistent/python")
    assert out.returncode == 2, out.stderr
    assert "is not an executable Python interpreter" in out.stderr
    assert report is None  # refused before any snapshot or staging work


@pytest.mark.parametrize("flag", [["--flask-app", "app:create_app"], []], ids=["flask-app", "detected"])
def test_flask_migrate_project_is_pointed_at_staging(tmp_path, source_db, flag):
    """Flask-Migrate's env.py takes its engine from current_app; the app names a "production" URL
    nobody listens on, so only an app context pointed at staging can succeed."""
    _, url, _ = source_db
    python = project_python("flask")
    ini = PROJECTS / "flask_app" / "migrations" / "alembic.ini"
    out, report = rehearse(tmp_path, url, ini, "--python", python, *flag)
    assert out.returncode == 0, out.stderr
    _assert_rehearsed(report, ["fl01", "fl02"])
    alter = report["revisions"][1]["upgrade"]["statements"][0]
    assert "SET NOT NULL" in alter["sql"] and alter["locks"], alter


def test_child_module_imports_only_what_a_project_has():
    """child.py runs in the project's interpreter: stdlib, Alembic, SQLAlchemy and, only for the
    projects that use them, Flask and AnyIO. Never rehearse, pglast, psycopg2, numpy, pydantic."""
    import ast

    source = (REPO / "rehearse" / "migrate" / "child.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports: the child is not part of a package"
            imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names)
    assert third_party <= {"alembic", "sqlalchemy", "flask", "anyio"}, third_party


def test_revision_that_cannot_import_is_one_line_naming_the_file(tmp_path, source_db):
    _, url, _ = source_db
    project = tmp_path / "proj"
    (project / "versions").mkdir(parents=True)
    (project / "env.py").write_text((PROJECTS / "sa14_app" / "env.py").read_text())
    (project / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s\nsqlalchemy.url = x\n")
    (project / "versions" / "x1_needs_a_package.py").write_text(
        'revision, down_revision = "x1", None\nimport package_only_the_app_venv_has\n\n'
        'def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n')
    out, report = rehearse(tmp_path, url, project / "alembic.ini", "--python", sys.executable)
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("rehearse:")]
    assert len(lines) == 1, out.stderr
    assert "package_only_the_app_venv_has" in lines[0] and "x1_needs_a_package.py:2" in lines[0], lines[0]
    assert "--python" in lines[0] and "Traceback" not in out.stderr
