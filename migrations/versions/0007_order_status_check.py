"""restrict orders.status to known values, widen customers.full_name to 300

Revision ID: 0007
Revises: 0006
Create Date: 2024-05-07 17:40:12.061935

The downgrade drops the CHECK constraint but leaves full_name at varchar(300): after
upgrade + downgrade the schema is not what it was before (a one-way change in disguise).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_check_constraint(
        op.f("ck_orders_status"),
        "orders",
        "status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')",
    )
    op.alter_column(
        "customers", "full_name", existing_type=sa.String(200), type_=sa.String(300), existing_nullable=False
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_constraint(op.f("ck_orders_status"), "orders", type_="check")
