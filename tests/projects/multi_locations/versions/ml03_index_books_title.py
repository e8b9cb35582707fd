"""index books.title

Revision ID: ml03
Revises: ml02
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'ml03'
down_revision: Union[str, Sequence[str], None] = 'ml02'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_books_title", "books", ["title"])


def downgrade() -> None:
    op.drop_index("ix_books_title", table_name="books")
