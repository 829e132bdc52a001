"""The model registry (models, versions, aliases and every move of an alias), hyper-parameter
studies, and the kind of each job: training run, study trial or prediction.

Optuna keeps its own tables (``studies``, ``trials``...) in the same database; they are
created by Optuna when a study first opens it, so they are not part of this schema.

Revision ID: 0006_registry_studies
Revises: 0005_listing_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_registry_studies"
down_revision = "0005_listing_indexes"
branch_labels = None
depends_on = None


def _project() -> sa.Column[int]:
    return sa.Column(
        "project_id",
        sa.Integer(),
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    )


def _model() -> sa.Column[int]:
    return sa.Column(
        "model_id",
        sa.Integer(),
        sa.ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer(), primary_key=True),
        _project(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_registered_models_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        _model(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(100), nullable=False),
        sa.Column(
            "source_experiment_id",
            sa.Integer(),
            sa.ForeignKey("experiments.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("source_experiment_name", sa.String(200), nullable=False),
        sa.Column("artifact_path", sa.String(1000), nullable=False),
        sa.Column("artifact_digest", sa.String(64), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("data_fingerprint", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_version"),
    )
    op.create_table(
        "model_aliases",
        sa.Column(
            "model_id",
            sa.Integer(),
            sa.ForeignKey("registered_models.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "alias_moves",
        sa.Column("id", sa.Integer(), primary_key=True),
        _model(),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rollback", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_alias_moves_model_alias_id", "alias_moves", ["model_id", "alias", "id"])
    op.create_table(
        "tuning_studies",
        sa.Column("id", sa.Integer(), primary_key=True),
        _project(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("optuna_name", sa.String(200), nullable=False, unique=True),
        sa.Column("pipeline", sa.String(100), nullable=False),
        sa.Column("base_config", sa.JSON(), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("objective", sa.String(200), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("sampler", sa.String(20), nullable=False),
        sa.Column("pruner", sa.String(20), nullable=False),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column("parallelism", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("trials_created", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.UniqueConstraint("project_id", "name", name="uq_tuning_studies_name"),
    )
    with op.batch_alter_table("experiments", table_kwargs={"sqlite_autoincrement": True}) as table:
        table.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="run"))
        table.add_column(
            sa.Column(
                "study_id",
                sa.Integer(),
                sa.ForeignKey(
                    "tuning_studies.id", ondelete="CASCADE", name="fk_experiments_study"
                ),
                nullable=True,
            )
        )
        table.add_column(sa.Column("trial_number", sa.Integer(), nullable=True))
        table.create_index("ix_experiments_study_trial", ["study_id", "trial_number"])


def downgrade() -> None:
    with op.batch_alter_table("experiments", table_kwargs={"sqlite_autoincrement": True}) as table:
        table.drop_index("ix_experiments_study_trial")
        table.drop_constraint("fk_experiments_study", type_="foreignkey")
        table.drop_column("trial_number")
        table.drop_column("study_id")
        table.drop_column("kind")
    op.drop_table("tuning_studies")
    op.drop_index("ix_alias_moves_model_alias_id", table_name="alias_moves")
    op.drop_table("alias_moves")
    op.drop_table("model_aliases")
    op.drop_table("model_versions")
    op.drop_table("registered_models")
