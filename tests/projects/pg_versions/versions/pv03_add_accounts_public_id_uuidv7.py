"""add accounts.public_id with a uuidv7() default

Revision ID: pv03
Revises: pv02

FAILS BEFORE POSTGRESQL 18 ON PURPOSE: uuidv7() is new in PostgreSQL 18 (release notes, "Functions");
on 15 the statement fails with "function uuidv7() does not exist". Written by a team whose laptops
run 18 while production still runs 15: what --target-version is for.
"""
from alembic import op
import sqlalchemy as sa

revision = "pv03"
down_revision = "pv02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("public_id", sa.Uuid(), server_default=sa.text("uuidv7()")))


def downgrade() -> None:
    op.drop_column("accounts", "public_id")
