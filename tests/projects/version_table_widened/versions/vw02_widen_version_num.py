"""widen alembic_version.version_num, add items.note

Revision ID: vw02
Revises: vw01

Like many real histories, widens Alembic's own version column for long revision ids; the
downgrade leaves it wide (Alembic's table is not the application's schema).
"""
from alembic import op
import sqlalchemy as sa

revision = "vw02"
down_revision = "vw01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("alembic_version", "version_num", type_=sa.String(255))
    op.add_column("items", sa.Column("note", sa.Text()))


def downgrade() -> None:
    op.drop_column("items", "note")
