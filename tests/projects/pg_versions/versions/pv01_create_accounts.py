"""create accounts (5,000 rows, indexed by email)

Revision ID: pv01
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "pv01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("accounts", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("email", sa.Text()),
                    sa.Column("balance", sa.Integer()))
    op.create_index("ix_accounts_email", "accounts", ["email"])
    op.execute("INSERT INTO accounts (id, email, balance) "
               "SELECT g, 'user' || g || '@example.com', g % 700 FROM generate_series(1, 5000) AS g")
    op.execute("ANALYZE accounts")


def downgrade() -> None:
    op.drop_table("accounts")
