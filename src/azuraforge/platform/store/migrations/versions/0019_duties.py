"""Duties that must run on one process of the store at a time (the reaper, the streams'
keeper), each under a lease in this table that its holder renews: taken over by another
process within seconds once its holder stops renewing. Rows are made by the first process
that asks for a duty; downgrading drops them (the version before runs its duties in every
server).

Revision ID: 0019_duties
Revises: 0018_server_keys
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_duties"
down_revision = "0018_server_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duties",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("renewed_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("duties")
