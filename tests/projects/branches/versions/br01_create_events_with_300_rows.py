"""create events with 300 rows

Revision ID: br01
Revises: 
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'br01'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
    )
    op.execute("INSERT INTO events (kind) SELECT (ARRAY['click', 'view', 'buy'])[1 + g % 3] FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("events")
