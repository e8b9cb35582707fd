"""drop orders.legacy_status, which the running application still reads

Revision ID: qs02
Revises: qs01

BREAKS THE OLD APPLICATION ON PURPOSE: the workload's SELECT ... legacy_status no longer prepares.
"""
from alembic import op
import sqlalchemy as sa

revision = "qs02"
down_revision = "qs01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("orders", "legacy_status")


def downgrade() -> None:
    op.add_column("orders", sa.Column("legacy_status", sa.Text()))
