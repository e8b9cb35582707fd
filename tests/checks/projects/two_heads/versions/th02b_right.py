"""Graph fixture: the other head (nothing merges them)."""
import sqlalchemy as sa
from alembic import op

revision = "th02b"
down_revision = "th01"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("t", sa.Column("c_th02b", sa.Integer()))


def downgrade():
    op.drop_column("t", "c_th02b")
