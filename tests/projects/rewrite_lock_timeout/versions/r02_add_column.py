"""add events.source (risky: the ALTER may queue traffic behind it with no lock_timeout)

Revision ID: r02
Revises: r01
"""
from alembic import op
import sqlalchemy as sa

revision = "r02"
down_revision = "r01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("source", sa.Text()))


def downgrade() -> None:
    op.drop_column("events", "source")
