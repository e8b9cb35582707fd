"""snapshots: the pulls of scheduled targets (one per target and slot), their log; which snapshot a rehearsal used

Revision ID: svc0004
Revises: svc0002

Only new tables and one new nullable column (rehearsals.snapshot_id), so it does not depend on
anything svc0003 adds.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "svc0004"
down_revision = "svc0003"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("target", sa.Text, sa.ForeignKey("targets.name"), nullable=False),
        # the schedule's slot this pull is for; NULL for a "pull now" nobody scheduled
        sa.Column("slot", sa.DateTime(timezone=True)),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="queued"),
        sa.Column("status_reason", sa.Text),
        sa.Column("path", sa.Text),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("worker_id", sa.Text, sa.ForeignKey("workers.id")),
        sa.Column("child_pid", sa.Integer),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("pulled_at", sa.DateTime(timezone=True)),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("revision", sa.Text),
        sa.Column("row_counts", postgresql.JSONB),
        sa.CheckConstraint("status IN ('queued', 'running', 'complete', 'failed', 'cancelled', 'deleted')",
                           name="ck_snapshots_status"),
        # a slot is pulled once, however many workers find it due
        sa.UniqueConstraint("target", "slot", name="uq_snapshots_target_slot"),
    )
    op.create_index("ix_snapshots_target_status", "snapshots", ["target", "status", "pulled_at"])
    op.create_table(
        "snapshot_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("snapshot_id", sa.BigInteger, sa.ForeignKey("snapshots.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_index("ix_snapshot_events_snapshot", "snapshot_events", ["snapshot_id", "id"])
    op.add_column("rehearsals", sa.Column("snapshot_id", sa.BigInteger, sa.ForeignKey("snapshots.id")))


def downgrade() -> None:
    op.drop_column("rehearsals", "snapshot_id")
    op.drop_index("ix_snapshot_events_snapshot", table_name="snapshot_events")
    op.drop_table("snapshot_events")
    op.drop_index("ix_snapshots_target_status", table_name="snapshots")
    op.drop_table("snapshots")
