"""add can_read and can_write; the downgrade removes exactly those

Revision ID: pr02
Revises: pr01
"""
from alembic import op

revision = "pr02"
down_revision = "pr01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO permissions (name) VALUES ('can_read'), ('can_write')")


def downgrade() -> None:
    op.execute("DELETE FROM permissions WHERE name IN ('can_read', 'can_write')")
