"""replace ix_products_code by a unique (code, name) index

Revision ID: ic02
Revises: ic01
Create Date: 2024-05-01 10:00:00.000000

BROKEN ON PURPOSE: the downgrade recreates ix_products_code without unique=True.

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'ic02'
down_revision: Union[str, Sequence[str], None] = 'ic01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index("ix_products_code", table_name="products")
    op.create_index("ix_products_code_name", "products", ["code", "name"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_products_code_name", table_name="products")
    op.create_index("ix_products_code", "products", ["code"])
