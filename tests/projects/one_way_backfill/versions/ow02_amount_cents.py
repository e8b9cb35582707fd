"""add orders.amount_cents and backfill it

Revision ID: ow02
Revises: ow01

The backfill's UPDATE fires the trigger, so every updated_at moves; the downgrade drops the
new column and, rightly, leaves updated_at alone.
"""
from alembic import op
import sqlalchemy as sa

revision = "ow02"
down_revision = "ow01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("amount_cents", sa.BigInteger()))
    op.execute("UPDATE orders SET amount_cents = (amount * 100)::bigint")


def downgrade() -> None:
    op.drop_column("orders", "amount_cents")
