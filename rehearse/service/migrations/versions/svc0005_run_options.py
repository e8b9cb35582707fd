"""run_options: a target's `rehearse run` options (queries, app checks, scale, settings, target version), and the ones a rehearsal ran with

Revision ID: svc0005
Revises: svc0004

Two new columns: targets.run_options with a constant default (no table rewrite since PostgreSQL 11)
and rehearsals.run_options, nullable (rehearsals from before it ran with none recorded).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "svc0005"
down_revision = "svc0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("targets", sa.Column("run_options", postgresql.JSONB, nullable=False,
                                       server_default=sa.text("'{}'::jsonb")))
    op.add_column("rehearsals", sa.Column("run_options", postgresql.JSONB))


def downgrade() -> None:
    op.drop_column("rehearsals", "run_options")
    op.drop_column("targets", "run_options")
