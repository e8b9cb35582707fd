"""payments.amount_cents integer -> bigint

Revision ID: 0004
Revises: 0003
Create Date: 2024-03-21 08:30:02.774410

Changing the column type rewrites the whole payments table (and its indexes) under an
ACCESS EXCLUSIVE lock: nobody can read or write payments meanwhile.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.alter_column(
        "payments", "amount_cents", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column(
        "payments", "amount_cents", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
    )
