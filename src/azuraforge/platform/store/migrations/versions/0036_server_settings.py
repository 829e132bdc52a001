"""The server's live settings as versions: a row per change made through the API (every
override in force after it, the settings it named, who made it and when). Downgrading drops
them: the servers then run on their environments alone.

Revision ID: 0036_server_settings
Revises: 0035_data_files
"""

import sqlalchemy as sa
from alembic import op

revision = "0036_server_settings"
down_revision = "0035_data_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_settings",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("changed_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("server_settings")
