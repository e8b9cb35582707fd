"""backfill events.note (risky: one UPDATE of every row in one transaction)

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
    op.execute("UPDATE events SET note = 'note-' || id")


def downgrade() -> None:
    op.execute("UPDATE events SET note = CASE WHEN id % 3 = 0 THEN NULL ELSE 'n' END")
