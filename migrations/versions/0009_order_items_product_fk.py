"""add FK order_items.product_id -> products and CHECK orders.total >= 0

Revision ID: 0009
Revises: 0008
Create Date: 2024-06-11 12:21:07.690551

Both constraints are added without NOT VALID, so PostgreSQL scans every existing row to
validate them while holding locks that block writes (SHARE ROW EXCLUSIVE on order_items and
products for the FK, ACCESS EXCLUSIVE on orders for the CHECK).
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_foreign_key(
        "fk_order_items_product_id_products", "order_items", "products", ["product_id"], ["id"]
    )
    op.create_check_constraint(op.f("ck_orders_total_non_negative"), "orders", "total >= 0")


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_constraint(op.f("ck_orders_total_non_negative"), "orders", type_="check")
    op.drop_constraint("fk_order_items_product_id_products", "order_items", type_="foreignkey")
