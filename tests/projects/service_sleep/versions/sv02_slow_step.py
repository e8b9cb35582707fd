"""add chores.done, then sleep (SLOW ON PURPOSE: SERVICE_SLEEP_S seconds, default 3)

Revision ID: sv02
Revises: sv01
"""
import os

from alembic import op
import sqlalchemy as sa

revision = "sv02"
down_revision = "sv01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chores", sa.Column("done", sa.Boolean))
    op.execute(f"SELECT pg_sleep({float(os.environ.get('SERVICE_SLEEP_S', '3'))})")


def downgrade() -> None:
    op.drop_column("chores", "done")
