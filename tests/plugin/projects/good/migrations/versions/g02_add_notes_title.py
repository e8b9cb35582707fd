"""add a nullable notes.title

Revision ID: g02
Revises: g01
"""
from alembic import op
import sqlalchemy as sa

revision = "g02"
down_revision = "g01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '2s'")
    op.add_column("notes", sa.Column("title", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '2s'")
    op.drop_column("notes", "title")
