"""index accounts.balance (the same on every version)

Revision ID: pv02
Revises: pv01
"""
from alembic import op

revision = "pv02"
down_revision = "pv01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_accounts_balance", "accounts", ["balance"])


def downgrade() -> None:
    op.drop_index("ix_accounts_balance", table_name="accounts")
