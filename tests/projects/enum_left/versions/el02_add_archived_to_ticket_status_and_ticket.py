"""add 'archived' to ticket_status and tickets.archived_at

Revision ID: el02
Revises: el01
Create Date: 2024-05-01 10:00:00.000000

LEAVES STATE BEHIND: after downgrade the enum still has the value 'archived'.

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'el02'
down_revision: Union[str, Sequence[str], None] = 'el01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # ALTER TYPE ... ADD VALUE cannot be used in the transaction that adds it (and could not
    # run in a transaction at all before PostgreSQL 12): commit it on its own.
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE ticket_status ADD VALUE IF NOT EXISTS 'archived'")
    op.add_column("tickets", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "archived_at")
    # PostgreSQL has no ALTER TYPE ... DROP VALUE: 'archived' stays in ticket_status.
