"""add widgets.color

Revision ID: ue02
Revises: ue01
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'ue02'
down_revision: Union[str, Sequence[str], None] = 'ue01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("widgets", sa.Column("color", sa.String(20), nullable=True))


def downgrade() -> None:
    op.drop_column("widgets", "color")
