"""create products with a unique index on code, 300 rows

Revision ID: ic01
Revises: 
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'ic01'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
    )
    op.create_index("ix_products_code", "products", ["code"], unique=True)
    op.execute("INSERT INTO products (code, name) SELECT 'P' || g, 'product ' || g FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_index("ix_products_code", table_name="products")
    op.drop_table("products")
