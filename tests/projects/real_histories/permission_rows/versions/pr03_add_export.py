"""add permissions.note and two rows; the downgrade drops the column and leaves the rows

Revision ID: pr03
Revises: pr02

As superset's security migrations: permissions added by an upgrade that its downgrade never
removes. That is pr03's residue; pr02's downgrade undoes all that pr02 did.
"""
import sqlalchemy as sa
from alembic import op

revision = "pr03"
down_revision = "pr02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("permissions", sa.Column("note", sa.Text()))
    op.execute("INSERT INTO permissions (name) VALUES ('can_export'), ('can_import')")


def downgrade() -> None:
    op.drop_column("permissions", "note")
