"""insert the feature flags

Revision ID: sq02
Revises: sq01
Create Date: 2024-05-01 10:00:00.000000

LEAVES STATE BEHIND: settings_id_seq stays at 303 after the downgrade (was 300).

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'sq02'
down_revision: Union[str, Sequence[str], None] = 'sq01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO settings (key, value) VALUES "
        "('feature.checkout_v2', 'off'), ('feature.dark_mode', 'on'), ('feature.gift_cards', 'off')"
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM settings WHERE key IN "
        "('feature.checkout_v2', 'feature.dark_mode', 'feature.gift_cards')"
    )
