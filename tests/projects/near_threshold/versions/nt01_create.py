"""accounts with 12,000 rows

Revision ID: nt01
Revises:
"""
from alembic import op

revision = "nt01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE accounts (id bigserial PRIMARY KEY, balance integer NOT NULL DEFAULT 0)")
    op.execute("INSERT INTO accounts (balance) SELECT g FROM generate_series(1, 12000) AS g")


def downgrade() -> None:
    op.execute("DROP TABLE accounts")
