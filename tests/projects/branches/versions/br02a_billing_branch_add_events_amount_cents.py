"""billing branch: add events.amount_cents

Revision ID: br02a
Revises: br01
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'br02a'
down_revision: Union[str, Sequence[str], None] = 'br01'
branch_labels: Union[str, Sequence[str], None] = ('billing',)
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("events", sa.Column("amount_cents", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "amount_cents")
