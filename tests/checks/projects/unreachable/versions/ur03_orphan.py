"""Graph fixture: its parent gone99 does not exist."""
import sqlalchemy as sa
from alembic import op

revision = "ur03"
down_revision = "gone99"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("t", sa.Column("c_ur03", sa.Integer()))


def downgrade():
    op.drop_column("t", "c_ur03")
