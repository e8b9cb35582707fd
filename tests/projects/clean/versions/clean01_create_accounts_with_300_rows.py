"""create accounts with 300 rows

Revision ID: clean01
Revises: 
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'clean01'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("balance_cents", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("INSERT INTO accounts (name, balance_cents) SELECT 'account ' || g, g * 100 FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("accounts")
