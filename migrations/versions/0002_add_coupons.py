"""add coupons table and nullable orders.coupon_code

Revision ID: 0002
Revises: 0001
Create Date: 2024-02-14 16:03:10.552907

Safe, additive change: a new empty table and a nullable column without a default
(a catalogue-only change in PostgreSQL, no table rewrite, lock held for milliseconds).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "coupons",
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("percent_off", sa.Integer(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_coupons"),
    )
    op.add_column("orders", sa.Column("coupon_code", sa.String(32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("orders", "coupon_code")
    op.drop_table("coupons")
