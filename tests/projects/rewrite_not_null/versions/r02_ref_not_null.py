"""events.ref NOT NULL (risky: SET NOT NULL scans under ACCESS EXCLUSIVE)

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
    op.alter_column("events", "ref", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    op.alter_column("events", "ref", existing_type=sa.Text(), nullable=True)
