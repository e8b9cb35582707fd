"""add members.level NOT NULL with a backfill, and an index

Revision ID: s142
Revises: s141
"""
from alembic import op
import sqlalchemy as sa

revision = "s142"
down_revision = "s141"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("members", sa.Column("level", sa.Integer))
    op.get_bind().execute("UPDATE members SET level = mod(id, 3)")
    op.alter_column("members", "level", nullable=False)
    op.create_index("ix_members_level", "members", ["level"])


def downgrade():
    op.drop_index("ix_members_level", table_name="members")
    op.drop_column("members", "level")
