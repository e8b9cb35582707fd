"""create permissions with two rows (the starting point the user gives)

Revision ID: pr01
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "pr01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("permissions", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.Text()))
    op.execute("INSERT INTO permissions (name) VALUES ('can_list'), ('can_show')")


def downgrade() -> None:
    op.drop_table("permissions")
