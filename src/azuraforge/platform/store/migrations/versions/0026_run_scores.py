"""A run's scores as rows: each number of its result by dotted path (``metrics.MAE.model``),
with the run's project and kind, indexed (project, name, value, run, kind) so a list sorts
and filters by a score on one index, as it does by a metric's last value.

The upgrade fills the scores of the runs that ended before, by the rule the store writes
them with (``store/result_scores.py``, pure: it names no table); the downgrade drops them
(each run's result keeps its numbers).

Revision ID: 0026_run_scores
Revises: 0025_run_notes
"""

import sqlalchemy as sa
from alembic import op

from azuraforge.platform.store.result_scores import score_values

revision = "0026_run_scores"
down_revision = "0025_run_notes"
branch_labels = None
depends_on = None

INDEX = "ix_run_scores_project_name_value"
BATCH = 500
"""Runs read, and their scores written, at a time."""
experiments = sa.table(
    "experiments",
    sa.column("id", sa.Integer),
    sa.column("project_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("result", sa.JSON),
)


def upgrade() -> None:
    scores = op.create_table(
        "run_scores",
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
    )
    op.create_index(INDEX, "run_scores", ["project_id", "name", "value", "experiment_id", "kind"])
    connection = op.get_bind()
    after = 0
    while True:
        runs = connection.execute(
            sa.select(experiments)
            .where(experiments.c.id > after, experiments.c.result.is_not(None))
            .order_by(experiments.c.id)
            .limit(BATCH)
        ).all()
        if not runs:
            return
        rows = [
            {"experiment_id": run.id, "project_id": run.project_id, "kind": run.kind,
             "name": name, "value": value}
            for run in runs
            for name, value in score_values(run.result).items()
        ]  # fmt: skip
        if rows:
            connection.execute(scores.insert(), rows)
        after = runs[-1].id


def downgrade() -> None:
    op.drop_index(INDEX, table_name="run_scores")
    op.drop_table("run_scores")
