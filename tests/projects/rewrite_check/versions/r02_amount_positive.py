"""events.amount must be positive (risky: the CHECK scans under ACCESS EXCLUSIVE)

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
    op.create_check_constraint("ck_events_amount_positive", "events", "amount > 0")


def downgrade() -> None:
    op.drop_constraint("ck_events_amount_positive", "events", type_="check")
