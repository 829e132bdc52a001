"""The server's secret keys in the store, not in files of each machine's home: every process
on the store signs and verifies with the same ones, and a rotation keeps the previous ones
(each purpose's generations, the newest signing). The name a server's sessions are for is
kept beside its id, so that a rotation does not rename their cookie. Downgrading drops the
keys: the version before makes new ones in its home (its sessions start anew, and webhook
receivers need its key).

Revision ID: 0018_server_keys
Revises: 0017_server_identity
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_server_keys"
down_revision = "0017_server_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_keys",
        sa.Column("purpose", sa.String(20), primary_key=True),
        sa.Column("generation", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("made_at", sa.Float(), nullable=False),
    )
    with op.batch_alter_table("server_identity") as table:
        table.add_column(sa.Column("session_name", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("server_identity") as table:
        table.drop_column("session_name")
    op.drop_table("server_keys")
