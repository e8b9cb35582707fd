"""url_from_env: env.py reads the database URL ONLY from the APP_DB_URL environment variable (sqlalchemy.url is ignored).

The URL comes ONLY from the APP_DB_URL environment variable; sqlalchemy.url in alembic.ini is
ignored (a KeyError when APP_DB_URL is unset, as in many hand-written env.py files).
"""

import os

from sqlalchemy import create_engine, pool

from alembic import context

config = context.config
target_metadata = None


def run_migrations_offline() -> None:
    context.configure(
        url=os.environ["APP_DB_URL"],
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = create_engine(os.environ["APP_DB_URL"], poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
