"""create ticket_status enum and tickets with 300 rows

Revision ID: el01
Revises: 
Create Date: 2024-05-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'el01'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("status", sa.Enum("open", "closed", name="ticket_status"), nullable=False),
    )
    op.execute("INSERT INTO tickets (title, status) SELECT 'ticket ' || g, (CASE WHEN g % 4 = 0 THEN 'closed' ELSE 'open' END)::ticket_status FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("tickets")
    op.execute("DROP TYPE ticket_status")
