"""add ledger.note, then a slow step while ACCESS EXCLUSIVE is still held

Revision ID: sl02
Revises: sl01

SLOW ON PURPOSE: the ALTER's lock is held until commit, and the revision then spends
3 s (a stand-in for a slow backfill), so normal reads and writes of ledger wait.
"""
from alembic import op
import sqlalchemy as sa

revision = "sl02"
down_revision = "sl01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger", sa.Column("note", sa.Text()))
    op.execute("SELECT pg_sleep(3)")


def downgrade() -> None:
    op.drop_column("ledger", "note")
    op.execute("SELECT pg_sleep(2)")  # slow on the way back too, so a run can be killed mid-rollback
