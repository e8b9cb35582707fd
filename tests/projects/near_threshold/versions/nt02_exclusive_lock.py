"""add accounts.flag, holding ACCESS EXCLUSIVE for just under a second

Revision ID: nt02
Revises: nt01

The lock is held 0.95-1.05 s from run to run: right at the 1 s limits.
"""
from alembic import op

revision = "nt02"
down_revision = "nt01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE accounts ADD COLUMN flag boolean")
    op.execute("SELECT pg_sleep(0.97)")


def downgrade() -> None:
    op.execute("ALTER TABLE accounts DROP COLUMN flag")
