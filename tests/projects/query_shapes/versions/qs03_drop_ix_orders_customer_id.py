"""drop ix_orders_customer_id, which the application's lookups by customer need

Revision ID: qs03
Revises: qs02

SLOWS THE APPLICATION ON PURPOSE: orders by customer_id become a sequential scan of 30,000 rows.
"""
from alembic import op

revision = "qs03"
down_revision = "qs02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_orders_customer_id", table_name="orders")


def downgrade() -> None:
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])
