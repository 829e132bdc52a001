"""A chat turn's recalled memories: how many of the user's long-term memories its message
was given (the chat asks the memory when a message is about earlier conversations). Turns
kept before count none. Downgrading drops the count.

Revision ID: 0028_turn_recalled
Revises: 0027_chat
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_turn_recalled"
down_revision = "0027_chat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "chat_turns", sa.Column("recalled", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    # SQLite drops a column by copying the table: keep its ids never reused.
    with op.batch_alter_table("chat_turns", table_kwargs={"sqlite_autoincrement": True}) as table:
        table.drop_column("recalled")
