"""add customers.verified; its downgrade renames email on the way back

Revision ID: qr02
Revises: qr01

BREAKS THE APPLICATION AFTER A ROLLBACK ON PURPOSE: the upgrade keeps customers.email (every
query the application sends still prepares), but the downgrade, copied from an older branch,
drops verified and renames email to email_address. After the rollback the application's
SELECT ... email no longer prepares. The downgrade then sleeps 1.5 s under its ACCESS EXCLUSIVE
lock (a stand-in for a slow reverse backfill): the rollback blocks customers' traffic too.
"""
from alembic import op
import sqlalchemy as sa

revision = "qr02"
down_revision = "qr01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("verified", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("customers", "verified")
    op.alter_column("customers", "email", new_column_name="email_address")
    op.execute("SELECT pg_sleep(1.5)")
