"""Streams' alerts (pending, firing, resolved) and their deliveries to webhooks; a stream's
promotions keep the two models' snapshots until the registry has them, and the version its
``champion`` alias moved to.

Revision ID: 0010_stream_alerts
Revises: 0009_stream_changes
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_stream_alerts"
down_revision = "0009_stream_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stream_changes") as table:
        table.add_column(sa.Column("snapshots", sa.JSON(), nullable=True))
        table.add_column(sa.Column("version", sa.Integer(), nullable=True))
    op.create_table(
        "stream_alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("bound", sa.Float(), nullable=True),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("fired_at", sa.Float(), nullable=True),
        sa.Column("resolved_at", sa.Float(), nullable=True),
    )
    op.create_index(
        "ix_stream_alerts_experiment_state", "stream_alerts", ["experiment_id", "state"]
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "alert_id",
            sa.Integer(),
            sa.ForeignKey("stream_alerts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=True),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=False),
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["delivered_at", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_due", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_stream_alerts_experiment_state", table_name="stream_alerts")
    op.drop_table("stream_alerts")
    with op.batch_alter_table("stream_changes") as table:
        table.drop_column("version")
        table.drop_column("snapshots")
