"""The server's own id, one random row made at its first start: what its replicas name the
session cookie and a session's audience after, alike however each spells the store's URL
(another host name, URL options; an id made of the URL's text differed between them).

Revision ID: 0017_server_identity
Revises: 0016_kind_in_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_server_identity"
down_revision = "0016_kind_in_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_identity",
        sa.Column("slot", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("server_id", sa.String(32), nullable=False),
        sa.CheckConstraint("slot = 1", name="ck_server_identity_one_row"),
    )


def downgrade() -> None:
    op.drop_table("server_identity")
