"""A run's notes: what its people write about it (``PATCH /experiments/{id}``), any run's,
whatever its status; at most 10,000 characters, checked by the store. Downgrading drops
them.

Revision ID: 0025_run_notes
Revises: 0024_run_tags_mlflow
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_run_notes"
down_revision = "0024_run_tags_mlflow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("experiments", sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table: keep its ids never reused.
    with op.batch_alter_table("experiments", table_kwargs={"sqlite_autoincrement": True}) as table:
        table.drop_column("notes")
