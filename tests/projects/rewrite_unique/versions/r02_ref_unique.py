"""events.ref unique (risky: ADD UNIQUE builds its index under ACCESS EXCLUSIVE)

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
    op.create_unique_constraint("uq_events_ref", "events", ["ref"])


def downgrade() -> None:
    op.drop_constraint("uq_events_ref", "events", type_="unique")
