"""What MLflow's registry keeps of a model version beyond ours: the source its files were
copied from (``runs:/...``, ``models:/m-...``), the logged model it was made from, its tags,
and when its description or tags last changed. A version made on the dashboard has no row
until MLflow's client sets one of them. Downgrading drops them.

Revision ID: 0033_model_version_mlflow
Revises: 0032_project_settings
"""

import sqlalchemy as sa
from alembic import op

revision = "0033_model_version_mlflow"
down_revision = "0032_project_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_version_mlflow",
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_version_mlflow")
