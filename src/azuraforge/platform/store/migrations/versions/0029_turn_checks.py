"""A chat turn's check: what the guardian found running the code of a code answer behind
the sandbox's boundary (``passed``: it ran clean; ``error``, ``timeout``, ``memory``; or
``refused`` where the boundary cannot run), with its one-line message. Turns kept before, and
answers without code, have none. Downgrading drops them.

Revision ID: 0029_turn_checks
Revises: 0028_turn_recalled
"""

import sqlalchemy as sa
from alembic import op

revision = "0029_turn_checks"
down_revision = "0028_turn_recalled"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chat_turns", sa.Column("check_status", sa.String(20), nullable=True))
    op.add_column("chat_turns", sa.Column("check_message", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table: keep its ids never reused.
    with op.batch_alter_table("chat_turns", table_kwargs={"sqlite_autoincrement": True}) as table:
        table.drop_column("check_message")
        table.drop_column("check_status")
