"""create settings with 300 rows

Revision ID: sq01
Revises: 
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'sq01'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(100), nullable=False, unique=True),
        sa.Column("value", sa.String(100), nullable=False),
    )
    op.execute("INSERT INTO settings (key, value) SELECT 'setting.' || g, 'value ' || g FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("settings")
