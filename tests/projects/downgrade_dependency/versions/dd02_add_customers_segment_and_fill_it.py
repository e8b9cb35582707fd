"""add customers.segment and fill it

Revision ID: dd02
Revises: dd01
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'dd02'
down_revision: Union[str, Sequence[str], None] = 'dd01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("segment", sa.String(20), nullable=True))
    op.execute(
        "UPDATE customers SET segment = (ARRAY['retail', 'wholesale', 'vip'])[1 + id % 3]"
    )


def downgrade() -> None:
    # Fails when customer_segments still exists: the view depends on this column.
    op.drop_column("customers", "segment")
