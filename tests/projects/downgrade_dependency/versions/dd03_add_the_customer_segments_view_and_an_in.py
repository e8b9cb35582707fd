"""add the customer_segments view and an index on segment

Revision ID: dd03
Revises: dd02
Create Date: 2024-05-01 10:00:00.000000

BROKEN ON PURPOSE: the downgrade keeps the view, so downgrading dd02 then fails with
DependentObjectsStillExist (cannot drop column segment ... view customer_segments depends on it).

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'dd03'
down_revision: Union[str, Sequence[str], None] = 'dd02'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute(
        "CREATE VIEW customer_segments AS "
        "SELECT segment, count(*) AS customers FROM customers GROUP BY segment"
    )
    op.create_index("ix_customers_segment", "customers", ["segment"])


def downgrade() -> None:
    op.drop_index("ix_customers_segment", table_name="customers")
    # customer_segments is never dropped.
