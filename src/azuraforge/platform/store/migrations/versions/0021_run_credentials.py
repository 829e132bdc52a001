"""Runs that no worker executes (an external run: a user's own code, an MLflow client,
``azuraforge run``'s recording): what writes each, the SHA-256 of its credential's secret,
and how long a write keeps it alive. Downgrading drops the table: such runs then take no
more writes, and the reaper ends those still running once their time is up, as before.

Revision ID: 0021_run_credentials
Revises: 0020_job_origin
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_run_credentials"
down_revision = "0020_job_origin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_credentials",
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("secret_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("idle_limit", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_credentials")
