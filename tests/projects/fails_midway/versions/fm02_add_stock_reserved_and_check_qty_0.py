"""add stock.reserved and CHECK qty >= 0

Revision ID: fm02
Revises: fm01
Create Date: 2024-05-01 10:00:00.000000

FAILS ON PURPOSE at its second statement: 30 existing rows have qty < 0.

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'fm02'
down_revision: Union[str, Sequence[str], None] = 'fm01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("stock", sa.Column("reserved", sa.Integer(), nullable=True))
    # Fails: rows with qty < 0 exist (psycopg2.errors.CheckViolation).
    op.execute("ALTER TABLE stock ADD CONSTRAINT ck_stock_qty_non_negative CHECK (qty >= 0)")


def downgrade() -> None:
    op.drop_constraint("ck_stock_qty_non_negative", "stock", type_="check")
    op.drop_column("stock", "reserved")
