"""index orders.created_at for the sales dashboard

Revision ID: 0003
Revises: 0002
Create Date: 2024-03-05 11:47:31.009123

Plain CREATE INDEX (no CONCURRENTLY) on the biggest table: holds a SHARE lock that blocks
every INSERT/UPDATE/DELETE on orders for as long as the index build takes.
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index("ix_orders_created_at", "orders", ["created_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_orders_created_at", table_name="orders")
