"""A stream's lineage names the run that trained a candidate out of the stream (a
``retrain``'s and its candidate's): events window -> run -> version.

Revision ID: 0012_retrain_runs
Revises: 0011_users
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_retrain_runs"
down_revision = "0011_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stream_changes") as table:
        table.add_column(sa.Column("run", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stream_changes") as table:
        table.drop_column("run")
