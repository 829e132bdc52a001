"""The projects' id sequence moved past the rows the first migration inserted with their ids:
on PostgreSQL the first ``create_project`` of a new database took id 1, which the project
``default`` holds, and failed.

Revision ID: 0013_project_id_sequence
Revises: 0012_retrain_runs
"""

from alembic import op

revision = "0013_project_id_sequence"
down_revision = "0012_retrain_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NOTE: SQLite's INTEGER PRIMARY KEY takes max(id) + 1 by itself; only a sequence lags.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('projects', 'id'), "
            "(SELECT coalesce(max(id), 1) FROM projects))"
        )


def downgrade() -> None:
    """Nothing to undo: where the sequence stands is no part of the schema."""
