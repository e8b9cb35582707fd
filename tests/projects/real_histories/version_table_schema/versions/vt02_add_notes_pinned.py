"""add notes.pinned

Revision ID: vt02
Revises: vt01
"""
import sqlalchemy as sa
from alembic import op

revision = "vt02"
down_revision = "vt01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notes", sa.Column("pinned", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("notes", "pinned")
