"""create harvest (ckan's harvesting tables)

Revision ID: fc01
Revises: fc00
"""
import sqlalchemy as sa
from alembic import op

revision = "fc01"
down_revision = "fc00"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("harvest", sa.Column("id", sa.Text(), primary_key=True), sa.Column("created", sa.DateTime()))


def downgrade() -> None:
    op.drop_table("harvest")
