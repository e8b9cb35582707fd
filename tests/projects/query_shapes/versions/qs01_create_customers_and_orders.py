"""create customers (2,000 rows) and orders (30,000 rows, indexed by customer_id)

Revision ID: qs01
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "qs01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("customers", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.Text()))
    op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("customer_id", sa.Integer(), nullable=False), sa.Column("total", sa.Integer()),
                    sa.Column("legacy_status", sa.Text()))
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])
    op.execute("INSERT INTO customers (id, name) SELECT g, 'customer ' || g FROM generate_series(1, 2000) AS g")
    op.execute("INSERT INTO orders (id, customer_id, total, legacy_status) "
               "SELECT g, 1 + g % 2000, g % 500, 'open' FROM generate_series(1, 30000) AS g")
    op.execute("ANALYZE customers")
    op.execute("ANALYZE orders")


def downgrade() -> None:
    op.drop_table("orders")
    op.drop_table("customers")
