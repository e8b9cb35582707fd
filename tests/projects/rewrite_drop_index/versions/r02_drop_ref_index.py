"""drop the index on events.ref (risky: DROP INDEX blocks reads and writes)

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
    op.drop_index("ix_events_ref", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_ref", "events", ["ref"])
