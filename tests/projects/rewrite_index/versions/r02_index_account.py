"""index events.account_id (risky: a plain CREATE INDEX blocks writes)

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
    op.create_index("ix_events_account_id", "events", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_events_account_id", table_name="events")
