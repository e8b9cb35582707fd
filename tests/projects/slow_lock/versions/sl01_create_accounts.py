"""create ledger with 2000 rows

Revision ID: sl01
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "sl01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("ledger", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("amount", sa.Integer()))
    op.execute("INSERT INTO ledger (amount) SELECT g FROM generate_series(1, 2000) AS g")


def downgrade() -> None:
    op.drop_table("ledger")
