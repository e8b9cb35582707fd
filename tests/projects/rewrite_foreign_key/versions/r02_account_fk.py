"""events.account_id references accounts (risky: the FK is validated under a blocking lock)

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
    op.create_foreign_key("fk_events_account", "events", "accounts", ["account_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint("fk_events_account", "events", type_="foreignkey")
