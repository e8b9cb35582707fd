"""index visits.path CONCURRENTLY

Revision ID: cc02
Revises: cc01
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'cc02'
down_revision: Union[str, Sequence[str], None] = 'cc01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index("ix_visits_path", "visits", ["path"], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_visits_path", table_name="visits", postgresql_concurrently=True)
