"""create docs (the starting point the user gives)

Revision ID: fc00
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "fc00"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("docs", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("title", sa.Text()))
    op.execute("INSERT INTO docs (title) SELECT 'doc ' || g FROM generate_series(1, 50) AS g")


def downgrade() -> None:
    op.drop_table("docs")
