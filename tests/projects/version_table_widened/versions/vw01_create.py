"""create items with 300 rows

Revision ID: vw01
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "vw01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("items", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.Text()))
    op.execute("INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("items")
