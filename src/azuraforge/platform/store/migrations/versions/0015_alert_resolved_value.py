"""A resolved alert keeps the value it fired on beside the value it resolved at: its message
and ``value`` say what held, ``resolved_value`` what was seen once it held no more.

Revision ID: 0015_alert_resolved_value
Revises: 0014_login_failures
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_alert_resolved_value"
down_revision = "0014_login_failures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stream_alerts") as table:
        table.add_column(sa.Column("resolved_value", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stream_alerts") as table:
        table.drop_column("resolved_value")
