"""add items.sku with an index

Revision ID: bd02
Revises: bd01
Create Date: 2024-05-01 10:00:00.000000

BROKEN ON PURPOSE: downgrade drops ix_items_sku but not the items.sku column.

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'bd02'
down_revision: Union[str, Sequence[str], None] = 'bd01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("items", sa.Column("sku", sa.String(32), nullable=True))
    op.create_index("ix_items_sku", "items", ["sku"])


def downgrade() -> None:
    op.drop_index("ix_items_sku", table_name="items")
    # items.sku is never dropped: the downgrade leaves the column behind.
