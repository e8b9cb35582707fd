"""index payments.created_at CONCURRENTLY

Revision ID: 0010
Revises: 0009
Create Date: 2024-06-25 15:08:33.215004

The safe way to index a busy table: CREATE INDEX CONCURRENTLY inside an autocommit block
(it cannot run in a transaction); writes keep flowing while the index builds.
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_payments_created_at", "payments", ["created_at"], postgresql_concurrently=True, if_not_exists=True
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_payments_created_at", table_name="payments", postgresql_concurrently=True, if_exists=True
        )
