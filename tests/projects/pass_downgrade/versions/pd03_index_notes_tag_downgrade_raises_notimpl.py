"""index notes.tag (downgrade raises NotImplementedError)

Revision ID: pd03
Revises: pd02
Create Date: 2024-05-01 10:00:00.000000

DOWNGRADE RAISES NotImplementedError.

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = 'pd03'
down_revision: Union[str, Sequence[str], None] = 'pd02'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_notes_tag", "notes", ["tag"])


def downgrade() -> None:
    raise NotImplementedError("pd03 cannot be downgraded")
