"""create parcels with 300 rows

Revision ID: a211
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "a211"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("parcels", sa.Column("id", sa.Integer, primary_key=True), sa.Column("weight", sa.Integer))
    op.execute("INSERT INTO parcels SELECT g, g % 50 FROM generate_series(1, 300) g")


def downgrade():
    op.drop_table("parcels")
