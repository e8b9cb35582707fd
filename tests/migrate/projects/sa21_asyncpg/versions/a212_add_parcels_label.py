"""add parcels.label and a unique index on it

Revision ID: a212
Revises: a211
"""
from alembic import op
import sqlalchemy as sa

revision = "a212"
down_revision = "a211"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("parcels", sa.Column("label", sa.Text, server_default="none"))
    op.create_index("ix_parcels_weight", "parcels", ["weight"])


def downgrade():
    op.drop_index("ix_parcels_weight", table_name="parcels")
    op.drop_column("parcels", "label")
