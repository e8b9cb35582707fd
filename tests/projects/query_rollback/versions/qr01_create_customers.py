"""create customers (2,000 rows) with name and email

Revision ID: qr01
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "qr01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("customers", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.Text()),
                    sa.Column("email", sa.Text()))
    op.execute("INSERT INTO customers (id, name, email) "
               "SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 2000) AS g")
    op.execute("ANALYZE customers")


def downgrade() -> None:
    op.drop_table("customers")
