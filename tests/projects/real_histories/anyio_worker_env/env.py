"""anyio_worker_env: async env.py (asyncpg) that must run in an AnyIO worker thread, URL only from WORKER_DB_URL.

The shape of prefect's env.py: the migrations run through ``anyio.from_thread.run`` (so the
caller must be a worker thread of a running event loop, as prefect's own commands are), on
an async engine whose URL comes from an environment variable, one transaction per revision.
Plain ``alembic upgrade`` fails here with NoEventLoopError, as it does on prefect.
"""

import os

import anyio.from_thread
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context


def do_run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def apply_migrations() -> None:
    engine = create_async_engine(os.environ["WORKER_DB_URL"], poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


anyio.from_thread.run(apply_migrations)
