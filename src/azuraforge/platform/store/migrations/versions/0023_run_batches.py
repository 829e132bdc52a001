"""The batches an external run's writer sent, by the id it gave each (``batch_id``): a batch
sent again with an id already written (a retry after a lost answer, a client's spool sent
anew) writes nothing twice. The table's primary key decides, under any concurrency. A run's
ids go with the run, and when it ends. Downgrading drops the table: batches then carry no
id the server keeps.

Revision ID: 0023_run_batches
Revises: 0022_blob_keys
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_run_batches"
down_revision = "0022_blob_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_batches",
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("written_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_batches")
