"""index stock.product

Revision ID: fm03
Revises: fm02
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'fm03'
down_revision: Union[str, Sequence[str], None] = 'fm02'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_stock_product", "stock", ["product"])


def downgrade() -> None:
    op.drop_index("ix_stock_product", table_name="stock")
