"""Experiments record their folder when it is not ``runs/<id>`` (runs of ``azuraforge run``).

Revision ID: 0003_output_dir
Revises: 0002_summary_project
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_output_dir"
down_revision = "0002_summary_project"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as table:
        table.add_column(sa.Column("output_dir", sa.String(1000), nullable=True))


def downgrade() -> None:
    # A rebuild on SQLite keeps AUTOINCREMENT only when told (reflection does not see it).
    with op.batch_alter_table("experiments", table_kwargs={"sqlite_autoincrement": True}) as table:
        table.drop_column("output_dir")
