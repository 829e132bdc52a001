"""Projects' data files kept in the blob store: a row per file naming the SHA-256 its bytes
are kept under (``data/<project>/sha256/<digest>/<name>``), with the CSV reader's description
of them. The files of a home's data folders are taken in by ``azuraforge db upgrade`` after
this migration (:func:`~azuraforge.platform.services.home_files.upgrade_store`). Downgrading
drops the rows (the blobs stay).

Revision ID: 0035_data_files
Revises: 0034_mlflow_lifecycle
"""

import sqlalchemy as sa
from alembic import op

revision = "0035_data_files"
down_revision = "0034_mlflow_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_files",
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(500), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.Float(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("delimiter", sa.String(10), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("data_files")
