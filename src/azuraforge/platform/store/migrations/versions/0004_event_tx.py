"""Events record the id of the transaction that wrote them (PostgreSQL), so a stream over
every run reads them in an order that only grows (``MetricStore.list_committed_events``).

Revision ID: 0004_event_tx
Revises: 0003_output_dir
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_event_tx"
down_revision = "0003_output_dir"
branch_labels = None
depends_on = None


# A rebuild on SQLite keeps AUTOINCREMENT only when told (reflection does not see it).
KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("events", table_kwargs=KEEP_IDS) as table:
        table.add_column(sa.Column("tx", sa.BigInteger(), nullable=False, server_default="0"))
        table.create_index("ix_events_tx", ["tx", "id"])


def downgrade() -> None:
    with op.batch_alter_table("events", table_kwargs=KEEP_IDS) as table:
        table.drop_index("ix_events_tx")
        table.drop_column("tx")
