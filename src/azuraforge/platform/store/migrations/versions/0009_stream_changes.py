"""Streams' lineage and manual triggers: each step of a stream's loop (drift, candidate,
promotion, rollback...) with its evidence, and the triggers asked of it; each scored
prediction's gain (the price's relative change over the horizon), for trading figures.

Revision ID: 0009_stream_changes
Revises: 0008_stream_outcomes
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_stream_changes"
down_revision = "0008_stream_outcomes"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _experiment() -> sa.Column[int]:
    return sa.Column(
        "experiment_id",
        sa.Integer(),
        sa.ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("stream_outcomes") as table:
        table.add_column(sa.Column("gain", sa.Float(), nullable=True))
    op.create_table(
        "stream_changes",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _experiment(),
        sa.Column("event", sa.Integer(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("other", sa.String(100), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("trigger_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_stream_changes_experiment_event", "stream_changes", ["experiment_id", "event"]
    )
    op.create_table(
        "stream_triggers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _experiment(),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("learner", sa.String(100), nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("event", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("answered_at", sa.Float(), nullable=True),
    )
    op.create_index(
        "ix_stream_triggers_experiment_status", "stream_triggers", ["experiment_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_stream_triggers_experiment_status", table_name="stream_triggers")
    op.drop_table("stream_triggers")
    op.drop_index("ix_stream_changes_experiment_event", table_name="stream_changes")
    op.drop_table("stream_changes")
    with op.batch_alter_table("stream_outcomes") as table:
        table.drop_column("gain")
