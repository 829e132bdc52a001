"""The assistant's examples: failures (an answer marked bad or corrected, code the guardian
found failing) made candidate training examples of a project, one per expert and prompt,
with their review. Downgrading drops them.

Revision ID: 0030_assist_examples
Revises: 0029_turn_checks
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_assist_examples"
down_revision = "0029_turn_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assist_examples",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("expert", sa.String(100), nullable=False),
        sa.Column("intent", sa.String(100), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("prompt_key", sa.String(64), nullable=False),
        sa.Column("wrong_output", sa.Text(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("tests", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column(
            "turn_id",
            sa.Integer(),
            sa.ForeignKey("chat_turns.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(100), nullable=True),
        sa.Column("reviewed_at", sa.Float(), nullable=True),
        sa.Column("fine_tune", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(20), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint(
            "project_id", "expert", "prompt_key", name="uq_assist_examples_prompt"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_assist_examples_project_status", "assist_examples", ["project_id", "status", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_assist_examples_project_status", table_name="assist_examples")
    op.drop_table("assist_examples")
