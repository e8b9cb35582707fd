"""Graph fixture: the base."""
import sqlalchemy as sa
from alembic import op

revision = "th01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("t", sa.Column("c_th01", sa.Integer()))


def downgrade():
    op.drop_column("t", "c_th01")
