"""users.disabled_at / disabled_by: an admin can disable a user (sign-in, sessions and tokens stop) and enable it again

Revision ID: svc0006
Revises: svc0005

Two nullable columns: no table rewrite, and every existing user stays enabled.
"""
from alembic import op
import sqlalchemy as sa

revision = "svc0006"
down_revision = "svc0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("disabled_at", sa.DateTime(timezone=True)))
    op.add_column("users", sa.Column("disabled_by", sa.Text))


def downgrade() -> None:
    op.drop_column("users", "disabled_by")
    op.drop_column("users", "disabled_at")
