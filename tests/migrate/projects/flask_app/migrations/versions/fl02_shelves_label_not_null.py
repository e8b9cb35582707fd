"""shelves.label NOT NULL

Revision ID: fl02
Revises: fl01
"""
from alembic import op
import sqlalchemy as sa

revision = "fl02"
down_revision = "fl01"
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("shelves", "label", existing_type=sa.Text, nullable=False)


def downgrade():
    op.alter_column("shelves", "label", existing_type=sa.Text, nullable=True)
