"""add NOT NULL orders.currency with server default 'EUR'

Revision ID: 0005
Revises: 0004
Create Date: 2024-04-02 14:15:56.300871

NOT NULL column with a constant server default on the populated orders table. Since
PostgreSQL 11 this is a catalogue change (no rewrite), but it still takes ACCESS EXCLUSIVE.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("orders", sa.Column("currency", sa.String(3), server_default="EUR", nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("orders", "currency")
