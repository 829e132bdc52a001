"""Streams' scored predictions as rows: each model's probability, the outcome and the loss, by
event, so scores over any window can be computed again.

Revision ID: 0008_stream_outcomes
Revises: 0007_long_jobs
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_stream_outcomes"
down_revision = "0007_long_jobs"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stream_outcomes",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event", sa.Integer(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("up", sa.Boolean(), nullable=False),
        sa.Column("loss", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_stream_outcomes_experiment_event", "stream_outcomes", ["experiment_id", "event"]
    )


def downgrade() -> None:
    op.drop_index("ix_stream_outcomes_experiment_event", table_name="stream_outcomes")
    op.drop_table("stream_outcomes")
