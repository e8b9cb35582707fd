"""create events with 300 rows

Revision ID: pi01
Revises:
Create Date: 2026-12-02 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op

revision: str = 'pi01'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("CREATE TABLE events (id bigint PRIMARY KEY, at integer NOT NULL)")
    op.execute("INSERT INTO events SELECT g, (g * 7919) % 1000003 FROM generate_series(1, 300) g")


def downgrade() -> None:
    op.execute("DROP TABLE events")
