"""add runs.attempts and widen runs.id to bigint (a table rewrite) with a batch operation

Revision ID: aw02
Revises: aw01
"""
import sqlalchemy as sa
from alembic import op

revision = "aw02"
down_revision = "aw01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=True))
        batch_op.alter_column("id", type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        batch_op.alter_column("id", type_=sa.Integer(), existing_type=sa.BigInteger())
        batch_op.drop_column("attempts")
