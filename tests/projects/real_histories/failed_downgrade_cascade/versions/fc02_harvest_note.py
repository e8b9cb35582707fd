"""add harvest.note

Revision ID: fc02
Revises: fc01
"""
import sqlalchemy as sa
from alembic import op

revision = "fc02"
down_revision = "fc01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("harvest", sa.Column("note", sa.Text()))


def downgrade() -> None:
    op.drop_column("harvest", "note")
