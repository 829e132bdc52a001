"""Settings of a project its admins set, a value by name (the first: whether the project
allows MLflow models, off unless set). Downgrading drops them.

Revision ID: 0032_project_settings
Revises: 0031_mlflow_models
"""

import sqlalchemy as sa
from alembic import op

revision = "0032_project_settings"
down_revision = "0031_mlflow_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_settings",
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("project_settings")
