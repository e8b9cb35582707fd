"""create shelves with 300 rows

Revision ID: fl01
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "fl01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("shelves", sa.Column("id", sa.Integer, primary_key=True), sa.Column("label", sa.Text))
    op.execute("INSERT INTO shelves SELECT g, 'shelf ' || g FROM generate_series(1, 300) g")


def downgrade():
    op.drop_table("shelves")
