"""import_time_url: env.py connects to it_app_settings.DATABASE_URL, read from IMPORT_DB_URL when revisions import the settings.

sqlalchemy.url is ignored. The revision files import the project's settings module, so the
URL is fixed the first time any revision file is loaded; a tool that loads the revisions
while IMPORT_DB_URL still points at production would migrate production.
"""

from sqlalchemy import create_engine, pool

from alembic import context
from it_app_settings import DATABASE_URL


def run_migrations_online() -> None:
    connectable = create_engine(DATABASE_URL, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
