"""targets, rehearsals, their progress events, API tokens and worker heartbeats

Revision ID: svc0001
Revises:
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "svc0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("source_url", sa.Text),
        sa.Column("snapshot", sa.Text),
        sa.Column("snapshot_schedule", sa.Text),
        sa.Column("project_path", sa.Text),
        sa.Column("git_url", sa.Text),
        sa.Column("git_ref", sa.Text),
        sa.Column("alembic_ini", sa.Text, nullable=False, server_default="alembic.ini"),
        sa.Column("python", sa.Text),
        sa.Column("policy", sa.Text),
        sa.Column("staging", sa.Text, nullable=False, server_default="local"),
        sa.Column("fail_on", sa.Text),
        sa.Column("thresholds", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("source_url IS NOT NULL OR snapshot IS NOT NULL OR snapshot_schedule IS NOT NULL",
                           name="ck_targets_has_a_database"),
        sa.CheckConstraint("project_path IS NOT NULL OR git_url IS NOT NULL", name="ck_targets_has_a_project"),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "rehearsals",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("target", sa.Text, sa.ForeignKey("targets.name"), nullable=False),
        sa.Column("ref", sa.Text),
        sa.Column("commit", sa.Text),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="queued"),
        sa.Column("status_reason", sa.Text),
        sa.Column("exit_code", sa.Integer),
        sa.Column("risk", sa.Text),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("worker_id", sa.Text, sa.ForeignKey("workers.id")),
        sa.Column("child_pid", sa.Integer),
        sa.Column("pr_key", sa.Text),
        sa.Column("forge", postgresql.JSONB),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("report_json", sa.Text),
        sa.CheckConstraint("status IN ('queued', 'running', 'passed', 'failed', 'cancelled', 'error')",
                           name="ck_rehearsals_status"),
    )
    op.create_index("ix_rehearsals_target_created", "rehearsals", ["target", "created_at"])
    op.create_index("ix_rehearsals_status", "rehearsals", ["status"])
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("rehearsal_id", sa.BigInteger, sa.ForeignKey("rehearsals.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_index("ix_events_rehearsal", "events", ["rehearsal_id", "id"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("role IN ('viewer', 'requester', 'approver', 'admin')", name="ck_tokens_role"),
    )


def downgrade() -> None:
    op.drop_table("tokens")
    op.drop_index("ix_events_rehearsal", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_rehearsals_status", table_name="rehearsals")
    op.drop_index("ix_rehearsals_target_created", table_name="rehearsals")
    op.drop_table("rehearsals")
    op.drop_table("workers")
    op.drop_table("targets")
