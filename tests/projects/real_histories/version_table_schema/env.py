"""version_table_schema: env.py keeps Alembic's bookkeeping in meta.schema_history, not public.alembic_version.

As many real projects do (a schema of their own for bookkeeping, a table name of their
own), env.py creates the schema if needed and passes version_table/version_table_schema.
"""

from sqlalchemy import engine_from_config, pool, text

from alembic import context

config = context.config


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        connection.execute(text("CREATE SCHEMA IF NOT EXISTS meta"))
        connection.commit()
        context.configure(connection=connection, target_metadata=None, version_table="schema_history",
                          version_table_schema="meta")
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
