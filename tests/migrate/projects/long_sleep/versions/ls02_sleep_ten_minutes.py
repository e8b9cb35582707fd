"""add naps.note, then sleep ten minutes while ACCESS EXCLUSIVE is held

Revision ID: ls02
Revises: ls01

HANGS ON PURPOSE: a stand-in for a statement that never ends (a lock queue, a runaway
backfill). Only cancelling its backend stops it.
"""
from alembic import op
import sqlalchemy as sa

revision = "ls02"
down_revision = "ls01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("naps", sa.Column("note", sa.Text()))
    op.execute("SELECT pg_sleep(600)")


def downgrade() -> None:
    op.drop_column("naps", "note")
