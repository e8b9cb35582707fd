"""create note_links (no downgrade function)

Revision ID: pd04
Revises: pd03
Create Date: 2024-05-01 10:00:00.000000

NO downgrade() FUNCTION in this module.

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'pd04'
down_revision: Union[str, Sequence[str], None] = 'pd03'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "note_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("note_id", sa.Integer(), sa.ForeignKey("notes.id"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
    )
