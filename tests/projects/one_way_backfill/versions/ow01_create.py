"""orders with an updated_at trigger, 300 rows

Revision ID: ow01
Revises:
"""
from alembic import op

revision = "ow01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE orders (id serial PRIMARY KEY, amount numeric(10, 2) NOT NULL, "
               "updated_at timestamptz NOT NULL DEFAULT '2024-01-01')")
    op.execute("CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$")
    op.execute("CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch()")
    op.execute("INSERT INTO orders (amount) SELECT g * 1.5 FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.execute("DROP TABLE orders")
    op.execute("DROP FUNCTION touch()")
