"""create stock with 300 rows, some with negative qty

Revision ID: fm01
Revises: 
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'fm01'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "stock",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product", sa.String(100), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
    )
    op.execute("INSERT INTO stock (product, qty) SELECT 'product ' || g, g % 50 - 5 FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("stock")
