"""create items with 300 rows

Revision ID: ac01
Revises:
Create Date: 2024-05-01 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

revision = "ac01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("legacy_code", sa.String(20), nullable=True),
    )
    op.execute("INSERT INTO items (legacy_code) SELECT 'code-' || g FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("items")
