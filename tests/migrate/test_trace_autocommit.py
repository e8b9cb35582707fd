"""Statements outside a transaction (an autocommit block, CREATE INDEX CONCURRENTLY) release
their locks before they return; the tracer watches them from outside while they run."""

from __future__ import annotations

import textwrap

from alembic import command
from alembic.config import Config

from rehearse.migrate.runner import AlembicProject

ENV = '''
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''

REV1 = '''
from alembic import op
revision, down_revision, branch_labels, depends_on = "b1", None, None, None

def upgrade():
    op.execute("CREATE TABLE big (id int PRIMARY KEY, v int)")
    op.execute("INSERT INTO big SELECT g, g % 1000 FROM generate_series(1, 400000) g")
    op.execute("ANALYZE big")

def downgrade():
    op.execute("DROP TABLE big")
'''

REV2 = '''
from alembic import op
revision, down_revision, branch_labels, depends_on = "b2", "b1", None, None

def upgrade():
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY ix_big_v ON big (v)")

def downgrade():
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY ix_big_v")
'''


def _project(tmp_path):
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text(textwrap.dedent(ENV))
    (tmp_path / "versions" / "b1.py").write_text(textwrap.dedent(REV1))
    (tmp_path / "versions" / "b2.py").write_text(textwrap.dedent(REV2))
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {tmp_path}\nsqlalchemy.url = x\n")
    return ini


def test_concurrent_index_lock_is_seen_from_outside(tmp_path, source_db):
    _, url, _ = source_db
    ini = _project(tmp_path)
    psycopg2_url = url.replace("postgresql://", "postgresql+psycopg2://")
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", psycopg2_url)
    command.upgrade(cfg, "b1")
    project = AlembicProject(ini, url=psycopg2_url)
    result, _ = project.step("b2", upgrade=True)
    assert result.ok, result.error
    (cic,) = [s for s in result.statements if "CONCURRENTLY" in s.sql]
    assert cic.in_transaction is False
    locks = {(lock.relation, lock.mode) for lock in cic.locks}
    assert ("public.big", "ShareUpdateExclusiveLock") in locks, cic.locks
    lock = next(lock for lock in cic.locks if lock.mode == "ShareUpdateExclusiveLock")
    assert lock.blocks_writes is False and lock.blocks_reads is False
    assert lock.rows and lock.rows > 100_000
