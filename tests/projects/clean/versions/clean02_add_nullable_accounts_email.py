"""add nullable accounts.email

Revision ID: clean02
Revises: clean01
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'clean02'
down_revision: Union[str, Sequence[str], None] = 'clean01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("email", sa.String(255), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "email")
