"""add customers.note, then hold its ACCESS EXCLUSIVE lock for 2 s

Revision ID: qs04
Revises: qs03

BLOCKS ON PURPOSE: the ALTER's lock is held until commit and the revision then sleeps 2 s
(a stand-in for a slow backfill), so every read and write of customers would wait.
"""
from alembic import op
import sqlalchemy as sa

revision = "qs04"
down_revision = "qs03"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("note", sa.Text()))
    op.execute("SELECT pg_sleep(2)")


def downgrade() -> None:
    op.drop_column("customers", "note")
