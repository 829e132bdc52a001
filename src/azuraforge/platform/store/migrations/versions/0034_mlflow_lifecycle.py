"""MLflow's lifecycle of a run made through its API (``active`` or ``deleted``, with when it
was deleted: ``runs/delete`` hides it from MLflow's searches, its data kept until restored or
the run is deleted from AzuraForge), the ``user_id`` its client sent, and MLflow
experiments' tags. Downgrading drops them.

Revision ID: 0034_mlflow_lifecycle
Revises: 0033_model_version_mlflow
"""

import sqlalchemy as sa
from alembic import op

revision = "0034_mlflow_lifecycle"
down_revision = "0033_model_version_mlflow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mlflow_runs") as table:
        table.add_column(
            sa.Column("lifecycle", sa.String(20), nullable=False, server_default="active")
        )
        table.add_column(sa.Column("deleted_at", sa.Float(), nullable=True))
        table.add_column(sa.Column("user_id", sa.String(250), nullable=True))
    op.create_table(
        "mlflow_experiment_tags",
        sa.Column(
            "mlflow_experiment_id",
            sa.Integer(),
            sa.ForeignKey("mlflow_experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(5000), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mlflow_experiment_tags")
    with op.batch_alter_table("mlflow_runs") as table:
        table.drop_column("user_id")
        table.drop_column("deleted_at")
        table.drop_column("lifecycle")
