"""Long jobs: when a queued job may next be claimed (the backoff after a crash), how often
and why the kernel restarted it, and the checkpoint it resumes from.

Revision ID: 0007_long_jobs
Revises: 0006_registry_studies
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_long_jobs"
down_revision = "0006_registry_studies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as table:
        table.add_column(sa.Column("not_before", sa.Float(), nullable=True))
        table.add_column(sa.Column("restarts", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("restart_history", sa.JSON(), nullable=True))
        table.add_column(sa.Column("checkpoint", sa.JSON(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table: keep its ids never reused.
    with op.batch_alter_table("experiments", table_kwargs={"sqlite_autoincrement": True}) as table:
        for column in ("checkpoint", "restart_history", "restarts", "not_before"):
            table.drop_column(column)
