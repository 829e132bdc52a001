"""The run's kind in the indexes listings count with: a copy of it on each metric summary, at
the end of the (project, key, last, run) index, and at the end of the runs' (project, id).

A listing keeps runs, trials and retrains (not prediction jobs or streams), so counting its
matches read each run for its kind: filtered on a metric, 10,001 runs joined to their
summaries to say "over 10,000" (17.8 ms against 1.4 ms on the summaries' index alone, at
100,000 runs); unfiltered, 10,001 rows read. Now each count walks one index only.

Revision ID: 0016_kind_in_indexes
Revises: 0015_alert_resolved_value
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_kind_in_indexes"
down_revision = "0015_alert_resolved_value"
branch_labels = None
depends_on = None

SUMMARIES = "ix_metric_summaries_project_key_last"
RUNS = "ix_experiments_project_id"


def upgrade() -> None:
    with op.batch_alter_table("metric_summaries") as table:
        table.add_column(sa.Column("kind", sa.String(20), nullable=True))
    op.execute(
        "UPDATE metric_summaries SET kind = (SELECT experiments.kind FROM experiments "
        "WHERE experiments.id = metric_summaries.experiment_id)"
    )
    with op.batch_alter_table("metric_summaries") as table:
        table.alter_column("kind", existing_type=sa.String(20), nullable=False)
        table.drop_index(SUMMARIES)
        table.create_index(SUMMARIES, ["project_id", "key", "last", "experiment_id", "kind"])
    op.drop_index(RUNS, table_name="experiments")
    op.create_index(RUNS, "experiments", ["project_id", "id", "kind"])


def downgrade() -> None:
    op.drop_index(RUNS, table_name="experiments")
    op.create_index(RUNS, "experiments", ["project_id", "id"])
    with op.batch_alter_table("metric_summaries") as table:
        table.drop_index(SUMMARIES)
        table.create_index(SUMMARIES, ["project_id", "key", "last", "experiment_id"])
        table.drop_column("kind")
