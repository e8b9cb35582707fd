"""add nullable visits.referrer

Revision ID: cc03
Revises: cc02
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'cc03'
down_revision: Union[str, Sequence[str], None] = 'cc02'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("visits", sa.Column("referrer", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("visits", "referrer")
