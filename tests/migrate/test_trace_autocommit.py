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


def _step_b3(tmp_path, source_db, revision_text: str):
    """The project at b2 on psycopg2, then ``revision_text`` (revision b3) traced."""
    _, url, _ = source_db
    ini = _project(tmp_path)
    (tmp_path / "versions" / "b3.py").write_text(textwrap.dedent(revision_text))
    psycopg2_url = url.replace("postgresql://", "postgresql+psycopg2://")
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", psycopg2_url)
    command.upgrade(cfg, "b2")
    result, _ = AlembicProject(ini, url=psycopg2_url).step("b3", upgrade=True)
    assert result.ok, result.error
    return result


REV3 = '''
from alembic import op
revision, down_revision, branch_labels, depends_on = "b3", "b2", None, None

def upgrade():
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY ix_big_id_v ON big (id, v)")
    # the first statement after the block opens the next transaction: its lock lasts until the commit
    op.execute("ALTER TABLE big ADD COLUMN note text")
    op.execute("COMMENT ON COLUMN big.note IS 'added after the block'")

def downgrade():
    op.execute("ALTER TABLE big DROP COLUMN note")
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY ix_big_id_v")
'''


def test_the_first_statement_after_an_autocommit_block_is_traced_inside_its_transaction(tmp_path, source_db):
    # psycopg2 opens that transaction lazily, so the connection says "idle" before the statement;
    # taken for an autocommit statement, it was watched from outside by a sampler whose size query
    # waited behind its ACCESS EXCLUSIVE lock, stalling the step up to 5 s
    result = _step_b3(tmp_path, source_db, REV3)
    by_sql = {s.sql.split()[0] + " " + s.sql.split()[1]: s for s in result.statements if "big" in s.sql}
    assert by_sql["CREATE INDEX"].in_transaction is False
    alter, comment = by_sql["ALTER TABLE"], by_sql["COMMENT ON"]
    assert alter.in_transaction is True and comment.in_transaction is True
    lock = next(lock for lock in alter.locks if lock.mode == "AccessExclusiveLock")
    # held until the commit, so at least through the statement after it
    assert lock.relation == "public.big" and lock.held_s >= comment.duration_s


def test_the_lock_sampler_sees_an_exclusive_lock_without_waiting_for_it(source_db):
    import time

    import psycopg2

    from rehearse.migrate.trace import _LockSampler

    _, _, dsn = source_db
    holder = psycopg2.connect(dsn)
    with holder.cursor() as cur:
        cur.execute("CREATE TABLE held (id int PRIMARY KEY, v text)")
        cur.execute("INSERT INTO held SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g")
        cur.execute("ANALYZE held")
        holder.commit()
        cur.execute("SELECT 'held'::regclass::oid, pg_backend_pid()")
        oid, pid = cur.fetchone()
        cur.execute("LOCK TABLE held IN ACCESS EXCLUSIVE MODE")  # kept until the rollback below
    sampler = _LockSampler(dsn, pid, {oid}, "alembic_version").start()
    try:
        deadline = time.monotonic() + 30
        while not sampler.seen and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        seen = sampler.stop()
        holder.rollback()
        holder.close()
    (relation, mode, rows, size), = seen  # a size read that waited for the lock would still be waiting
    assert (relation, mode, rows) == ("public.held", "AccessExclusiveLock", 20000)
    assert size >= 20000 * 200  # the heap, its TOAST table and its primary key, from pg_class


REV3_COMMIT = '''
from alembic import op
revision, down_revision, branch_labels, depends_on = "b3", "b2", None, None

def upgrade():
    op.execute("COMMIT")  # the old way out of Alembic's transaction (hypothesis/h, many others)
    op.execute("CREATE INDEX CONCURRENTLY ix_big_id_v ON big (id, v)")

def downgrade():
    op.execute("COMMIT")
    op.execute("DROP INDEX CONCURRENTLY ix_big_id_v")
'''


def test_a_concurrent_index_after_an_explicit_commit_is_traced_outside_a_transaction(tmp_path, source_db):
    # psycopg2 sends no BEGIN after a COMMIT that went through a cursor (its own state still says
    # "in a transaction" while the server is idle): the statement runs, and is traced, outside one
    result = _step_b3(tmp_path, source_db, REV3_COMMIT)
    (cic,) = [s for s in result.statements if "CONCURRENTLY" in s.sql]
    assert cic.in_transaction is False
    assert ("public.big", "ShareUpdateExclusiveLock") in {(lock.relation, lock.mode) for lock in cic.locks}, cic.locks
