"""MLflow's logged models (MLflow 3's ``/logged-models``: each made within a run, its files
among the run's), their params, tags and the metrics linked to them; MLflow's datasets (one
MLflow experiment's, by name and digest) and the inputs of runs (datasets with their input
tags, logged models) and their outputs (logged models). Downgrading drops them.

Revision ID: 0031_mlflow_models
Revises: 0030_assist_examples
"""

import sqlalchemy as sa
from alembic import op

revision = "0031_mlflow_models"
down_revision = "0030_assist_examples"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run() -> sa.Column[int]:
    return sa.Column(
        "experiment_id",
        sa.Integer(),
        sa.ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
    )


def _model(primary: bool = False) -> sa.Column[str]:
    return sa.Column(
        "model_id",
        sa.String(40),
        sa.ForeignKey("mlflow_logged_models.id", ondelete="CASCADE"),
        primary_key=primary,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "mlflow_logged_models",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "mlflow_experiment_id",
            sa.Integer(),
            sa.ForeignKey("mlflow_experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _run(),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("model_type", sa.String(500), nullable=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("lifecycle", sa.String(20), nullable=False),
        sa.Column("creator", sa.String(100), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_mlflow_logged_models_project", "mlflow_logged_models", ["project_id", "created_at"]
    )
    op.create_index("ix_mlflow_logged_models_run", "mlflow_logged_models", ["experiment_id"])
    op.create_table(
        "mlflow_logged_model_values",
        _model(primary=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "mlflow_logged_model_metrics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _model(),
        _run(),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("timestamp", BIG, nullable=False),
        sa.Column("step", BIG, nullable=False),
        sa.Column("dataset_name", sa.String(500), nullable=True),
        sa.Column("dataset_digest", sa.String(36), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_mlflow_logged_model_metrics_model", "mlflow_logged_model_metrics", ["model_id", "key"]
    )
    op.create_table(
        "mlflow_datasets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "mlflow_experiment_id",
            sa.Integer(),
            sa.ForeignKey("mlflow_experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("schema", sa.Text(), nullable=True),
        sa.Column("profile", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.UniqueConstraint(
            "mlflow_experiment_id", "name", "digest", name="uq_mlflow_datasets_name_digest"
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "mlflow_run_inputs",
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("mlflow_datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tags", sa.JSON(), nullable=False),
    )
    op.create_index("ix_mlflow_run_inputs_dataset", "mlflow_run_inputs", ["dataset_id"])
    op.create_table(
        "mlflow_run_models",
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        _model(primary=True),
        sa.Column("direction", sa.String(10), primary_key=True),
        sa.Column("step", BIG, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mlflow_run_models")
    op.drop_index("ix_mlflow_run_inputs_dataset", table_name="mlflow_run_inputs")
    op.drop_table("mlflow_run_inputs")
    op.drop_table("mlflow_datasets")
    op.drop_index("ix_mlflow_logged_model_metrics_model", table_name="mlflow_logged_model_metrics")
    op.drop_table("mlflow_logged_model_metrics")
    op.drop_table("mlflow_logged_model_values")
    op.drop_index("ix_mlflow_logged_models_run", table_name="mlflow_logged_models")
    op.drop_index("ix_mlflow_logged_models_project", table_name="mlflow_logged_models")
    op.drop_table("mlflow_logged_models")
