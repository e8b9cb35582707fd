"""create accounts and events, and seed events with 100,000 rows (big enough to see the lock)

Revision ID: r01
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "r01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("accounts", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("ref", sa.Text()),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_events_ref", "events", ["ref"])
    op.execute("INSERT INTO accounts (id) SELECT g FROM generate_series(1, 1000) AS g")
    op.execute(
        "INSERT INTO events (account_id, amount, ref, note)"
        " SELECT 1 + g % 1000, 1 + g % 500, 'ref-' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' END"
        " FROM generate_series(1, 100000) AS g"
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("accounts")
