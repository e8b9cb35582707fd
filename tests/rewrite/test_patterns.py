"""Each safe pattern on a small project whose r02 is risky on a 100,000-row table: the
generated code runs under plain Alembic, its rehearsal holds no blocking lock for the heavy
work on the big table, and it ends in the same schema and data as the original."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from rehearse import api
from rehearse.rewrite.compare import project_copy, rehearse_side
from rehearse.rewrite.suggest import plan_fix, prove, write_fix
from rehearse.snapshot.format import read_snapshot

PROJECTS = Path(__file__).resolve().parents[1] / "projects"


def at_revision(ini: Path, url: str, revision: str) -> None:
    command.upgrade(_alembic(ini, url), revision)

BLOCKING = {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}

# project -> (pattern, statement prefix of the heavy step that must not block the table)
CASES = {
    "rewrite_index": ("concurrent-index", "CREATE INDEX CONCURRENTLY"),
    "rewrite_drop_index": ("concurrent-index", "DROP INDEX CONCURRENTLY"),
    "rewrite_foreign_key": ("not-valid-foreign-key", "ALTER TABLE events VALIDATE CONSTRAINT"),
    "rewrite_check": ("not-valid-check", "ALTER TABLE events VALIDATE CONSTRAINT"),
    "rewrite_not_null": ("not-null-through-check", "ALTER TABLE events VALIDATE CONSTRAINT"),
    "rewrite_unique": ("unique-through-index", "CREATE UNIQUE INDEX CONCURRENTLY"),
    "rewrite_backfill": ("batched-backfill", "UPDATE events SET note"),
    "rewrite_lock_timeout": ("lock-timeout-retry", "ALTER TABLE events ADD COLUMN source"),
    "rewrite_type_change": ("expand-contract-type-change", "UPDATE events SET amount__new"),
}


def _alembic(ini: Path, url: str) -> Config:
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg2://"))
    return cfg


@pytest.mark.parametrize("name", sorted(CASES))
def test_rewrite_is_proven_on_the_same_data(name, tmp_path, source_db):
    pattern, heavy = CASES[name]
    ini = PROJECTS / name / "alembic.ini"
    _, url, _ = source_db
    at_revision(ini, url, "r01")
    snap = read_snapshot(api.snapshot(url, tmp_path / "snap").path)

    rewrite = plan_fix(ini, "r02")  # static: from Alembic's offline SQL and the rules
    assert rewrite is not None and rewrite.plan.patterns == (pattern,)
    assert rewrite.files[-1].revision == "r02"  # later revisions still chain onto r02

    # the heavy step of the rewrite holds no lock that blocks the big table's traffic
    with project_copy(ini, rewrite.original_file, [(f.filename, f.text) for f in rewrite.files]) as copy:
        side = rehearse_side(snap, copy, "r01", [f.revision for f in rewrite.files])
    assert side.side.ok, side.side.error
    heavy_steps = [s for step in side.steps for s in step.statements if s.sql.startswith(heavy)]
    assert heavy_steps, [s.sql for step in side.steps for s in step.statements]
    if pattern != "lock-timeout-retry":  # that one keeps its exclusive lock by design (brief, bounded wait)
        for statement in heavy_steps:
            held = {(lock.relation, lock.mode) for lock in statement.locks if lock.mode in BLOCKING}
            assert not {h for h in held if "events" in h[0]}, (statement.sql, held)

    result = prove(rewrite, ini, snap)
    assert result.schema_equal and result.data_equal, result.differences
    assert result.suggested, result.reason
    assert result.original.lock_mode is not None
    if rewrite.plan.patterns != ("lock-timeout-retry",):
        assert result.rewritten.lock_held_s < result.original.lock_held_s

    # the written files run under plain Alembic, up, down and up again
    project = tmp_path / "project"
    shutil.copytree(PROJECTS / name, project, ignore=shutil.ignore_patterns("__pycache__"))
    rewrite_here = plan_fix(project / "alembic.ini", "r02")
    written = write_fix(rewrite_here, keep_original=True)
    assert [p.name for p in written] == [f.filename for f in rewrite.files]
    assert (rewrite_here.original_file.parent / f"{rewrite_here.original_file.name}.orig").is_file()
    cfg = _alembic(project / "alembic.ini", url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "r01")
    command.upgrade(cfg, "head")
