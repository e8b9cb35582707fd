"""add users.display_name and backfill it

Revision ID: dl02
Revises: dl01
Create Date: 2024-05-01 10:00:00.000000

DATA LOSS ON DOWNGRADE: dropping display_name throws away every value written to it.

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'dl02'
down_revision: Union[str, Sequence[str], None] = 'dl01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("users", sa.Column("display_name", sa.String(201), nullable=True))
    op.execute("UPDATE users SET display_name = first_name || ' ' || last_name")


def downgrade() -> None:
    op.drop_column("users", "display_name")
