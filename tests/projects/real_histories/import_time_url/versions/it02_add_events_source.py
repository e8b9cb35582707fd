"""add events.source

Revision ID: it02
Revises: it01
"""
import sqlalchemy as sa
from alembic import op

import it_app_settings  # noqa: F401

revision = "it02"
down_revision = "it01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("source", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "source")
