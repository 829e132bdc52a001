"""Where a job comes from: the user who asked for it (a study's, its trials'), and the
context it carries to its worker (a trace's, later), which every job gets from the one
function that queues jobs.

Revision ID: 0020_job_origin
Revises: 0019_duties
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_job_origin"
down_revision = "0019_duties"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as table:
        table.add_column(sa.Column("submitter", sa.String(100), nullable=True))
        table.add_column(sa.Column("context", sa.JSON(), nullable=True, server_default="{}"))
    with op.batch_alter_table("tuning_studies") as table:
        table.add_column(sa.Column("submitter", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tuning_studies") as table:
        table.drop_column("submitter")
    # SQLite drops a column by copying the table: keep its ids never reused.
    with op.batch_alter_table("experiments", table_kwargs={"sqlite_autoincrement": True}) as table:
        table.drop_column("context")
        table.drop_column("submitter")
