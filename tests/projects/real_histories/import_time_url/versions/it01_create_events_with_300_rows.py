"""create events with 300 rows

Revision ID: it01
Revises:
"""
import sqlalchemy as sa
from alembic import op

import it_app_settings  # noqa: F401  revisions importing the project's modules fix its settings

revision = "it01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("kind", sa.String(20), nullable=False))
    op.execute("INSERT INTO events (kind) SELECT 'kind ' || (g % 5) FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("events")
