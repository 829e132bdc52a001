"""Failed sign-ins counted in the store, by the name tried and the address it came from
together, so that every API process holds back the same attempts (and a restart forgets
none).

Revision ID: 0014_login_failures
Revises: 0013_project_id_sequence
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_login_failures"
down_revision = "0013_project_id_sequence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("address", sa.String(100), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.Column("held_until", sa.Float(), nullable=False),
    )
    op.create_index("ix_login_failures_last_at", "login_failures", ["last_at"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_last_at", table_name="login_failures")
    op.drop_table("login_failures")
