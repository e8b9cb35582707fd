"""drop items.legacy_code

Revision ID: ac02
Revises: ac01
Create Date: 2024-05-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

revision = "ac02"
down_revision = "ac01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("items", "legacy_code")


def downgrade() -> None:
    op.add_column("items", sa.Column("legacy_code", sa.String(20), nullable=True))
