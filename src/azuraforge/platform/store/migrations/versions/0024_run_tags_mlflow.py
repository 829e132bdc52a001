"""Tags of runs as rows (``run_tags``: a run's key and its value, set, deleted, filtered on),
MLflow's experiments (``mlflow_experiments``: a grouping of a project's runs that MLflow
clients make, named, with a lifecycle; the project's default experiment, MLflow's ``"0"``,
made when first asked for), which of them each run made through MLflow belongs to
(``mlflow_runs``), the NaN values MLflow clients log (``metric_nans``: a curve cannot draw
them, so they are kept beside the points), and 64-bit steps (``metric_points.step`` and
``metric_summaries.step``: SQLite's integers are 64-bit already). Downgrading drops the
tables (tags, MLflow's groupings and NaN values go) and brings steps back to 32 bits, which a
step logged above 2,147,483,647 refuses on PostgreSQL.

Revision ID: 0024_run_tags_mlflow
Revises: 0023_run_batches
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_run_tags_mlflow"
down_revision = "0023_run_batches"
branch_labels = None
depends_on = None

STEPS = (("metric_points", "step"), ("metric_summaries", "step"))


def _run_id() -> sa.Column[int]:
    return sa.Column(
        "experiment_id",
        sa.Integer(),
        sa.ForeignKey("experiments.id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "run_tags",
        _run_id(),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_index("ix_run_tags_key", "run_tags", ["key"])
    op.create_table(
        "mlflow_experiments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("lifecycle", sa.String(20), nullable=False),
        sa.Column("artifact_location", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_mlflow_experiments_project_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "mlflow_runs",
        _run_id(),
        sa.Column(
            "mlflow_experiment_id",
            sa.Integer(),
            sa.ForeignKey("mlflow_experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_index("ix_mlflow_runs_experiment", "mlflow_runs", ["mlflow_experiment_id"])
    op.create_table(
        "metric_nans",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("step", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
    )
    op.create_index("ix_metric_nans_experiment_key", "metric_nans", ["experiment_id", "key"])
    if op.get_bind().dialect.name == "postgresql":
        for table, column in STEPS:
            op.alter_column(table, column, type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in STEPS:
            op.alter_column(table, column, type_=sa.Integer(), existing_nullable=False)
    op.drop_table("metric_nans")
    op.drop_table("mlflow_runs")
    op.drop_table("mlflow_experiments")
    op.drop_table("run_tags")
