"""create table chores with 300 rows

Revision ID: sv01
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "sv01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("chores", sa.Column("id", sa.Integer, primary_key=True), sa.Column("title", sa.Text))
    op.execute("INSERT INTO chores (id, title) SELECT g, 'chore ' || g FROM generate_series(1, 300) g")


def downgrade() -> None:
    op.drop_table("chores")
