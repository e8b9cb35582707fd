"""events.amount becomes bigint (risky: the type change rewrites the table)

Revision ID: r02
Revises: r01
"""
from alembic import op
import sqlalchemy as sa

revision = "r02"
down_revision = "r01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("events", "amount", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    op.alter_column("events", "amount", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
