"""add books.isbn (lives in versions_extra/)

Revision ID: ml02
Revises: ml01
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'ml02'
down_revision: Union[str, Sequence[str], None] = 'ml01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("books", sa.Column("isbn", sa.String(17), nullable=True))


def downgrade() -> None:
    op.drop_column("books", "isbn")
