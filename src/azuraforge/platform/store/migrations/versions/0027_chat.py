"""The assistant on the platform: a project's conversations (``chat_conversations``, a
user's each), their turns (``chat_turns``: the message, the answer, who answered and why, how
fast, the user's verdict) and what the backend selector measured per task type and candidate
(``backend_performance``), and the response cache of deterministic answers
(``chat_cache``, with each project's hits, misses and time saved in ``chat_cache_stats``).
Downgrading drops the five tables (conversations, measurements and cached answers go).

Revision ID: 0027_chat
Revises: 0026_run_scores
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_chat"
down_revision = "0026_run_scores"
branch_labels = None
depends_on = None


def _project(*, primary_key: bool = False) -> sa.Column[int]:
    return sa.Column(
        "project_id",
        sa.Integer(),
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _project(),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_chat_conversations_project_user",
        "chat_conversations",
        ["project_id", "user_name", "updated_at"],
    )
    op.create_table(
        "chat_turns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("chat_conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(100), nullable=False),
        sa.Column("expert", sa.String(100), nullable=False),
        sa.Column("adapter", sa.String(200), nullable=True),
        sa.Column("backend", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_token_ms", sa.Float(), nullable=True),
        sa.Column("tokens_per_s", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("verdict", sa.String(20), nullable=True),
        sa.Column("correction", sa.Text(), nullable=True),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_chat_turns_conversation", "chat_turns", ["conversation_id", "id"])
    op.create_table(
        "backend_performance",
        _project(primary_key=True),
        sa.Column("task", sa.String(100), primary_key=True),
        sa.Column("candidate", sa.String(300), primary_key=True),
        sa.Column("successes", sa.Float(), nullable=False),
        sa.Column("failures", sa.Float(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("first_token_ms", sa.Float(), nullable=True),
        sa.Column("tokens_per_s", sa.Float(), nullable=True),
        sa.Column("tokens", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "chat_cache",
        _project(primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("generated_ms", sa.Float(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_chat_cache_project_created", "chat_cache", ["project_id", "created_at"])
    op.create_table(
        "chat_cache_stats",
        _project(primary_key=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("saved_ms", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chat_cache_stats")
    op.drop_index("ix_chat_cache_project_created", table_name="chat_cache")
    op.drop_table("chat_cache")
    op.drop_table("backend_performance")
    op.drop_index("ix_chat_turns_conversation", table_name="chat_turns")
    op.drop_table("chat_turns")
    op.drop_index("ix_chat_conversations_project_user", table_name="chat_conversations")
    op.drop_table("chat_conversations")
