"""index events.at (a plain CREATE INDEX: PostgreSQL builds it with parallel workers on a big table)

Revision ID: pi02
Revises: pi01
Create Date: 2026-12-02 10:01:00.000000

"""
from typing import Sequence, Union

from alembic import op

revision: str = 'pi02'
down_revision: Union[str, Sequence[str], None] = 'pi01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_events_at ON events (at)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_events_at")
