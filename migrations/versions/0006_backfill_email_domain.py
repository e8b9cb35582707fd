"""add customers.email_domain and backfill it from email

Revision ID: 0006
Revises: 0005
Create Date: 2024-04-18 10:02:41.918266

Data migration: one UPDATE over every customer row inside the migration transaction
(row locks on the whole table, a full table's worth of new row versions and WAL).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("customers", sa.Column("email_domain", sa.String(255), nullable=True))
    op.execute("UPDATE customers SET email_domain = lower(split_part(email, '@', 2))")
    op.create_index("ix_customers_email_domain", "customers", ["email_domain"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_customers_email_domain", table_name="customers")
    op.drop_column("customers", "email_domain")
