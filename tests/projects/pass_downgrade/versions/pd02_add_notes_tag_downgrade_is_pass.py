"""add notes.tag (downgrade is pass)

Revision ID: pd02
Revises: pd01
Create Date: 2024-05-01 10:00:00.000000

DOWNGRADE IS `pass`: notes.tag stays after downgrading.

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'pd02'
down_revision: Union[str, Sequence[str], None] = 'pd01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("notes", sa.Column("tag", sa.String(30), nullable=True))


def downgrade() -> None:
    pass
