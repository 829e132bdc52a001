"""Rows hold blob keys, never paths: a job's files are ``runs/<id>/`` of the blob store
(``experiments.output_dir``, an absolute folder of one machine, goes), a registered
version's are its ``artifact_path``, now a key (``models/<model>/<12 hex>``: ``models/``
put before what was a folder below ``home/models``), and a prediction job made before names
its inputs by their key (``runs/<id>/inputs.csv``, where its folder's files were copied).

The files move with ``azuraforge db upgrade``, which copies them into the blob store under
these keys before it runs this revision (``services/home_files.py``: a migration sees only
the database). A downgrade leaves them there: ``azuraforge blobs copy --to <home>`` puts
them back where the rows then say (``home/runs/<id>``, ``home/models/...``).

Revision ID: 0022_blob_keys
Revises: 0021_run_credentials
"""

import posixpath
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0022_blob_keys"
down_revision = "0021_run_credentials"
branch_labels = None
depends_on = None

MODELS = "models/"
experiments = sa.table(
    "experiments",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("config", sa.JSON),
)
versions = sa.table("model_versions", sa.column("artifact_path", sa.String))


def upgrade() -> None:
    _name_inputs(lambda job, name: name if "/" in name else f"runs/{job}/{name}")
    op.execute(
        versions.update().values(artifact_path=sa.literal(MODELS) + versions.c.artifact_path)
    )
    # SQLite drops a column by copying the table: keep its ids never reused.
    with op.batch_alter_table("experiments", table_kwargs={"sqlite_autoincrement": True}) as table:
        table.drop_column("output_dir")


def downgrade() -> None:
    with op.batch_alter_table("experiments") as table:
        table.add_column(sa.Column("output_dir", sa.String(1000), nullable=True))
    _name_inputs(lambda job, key: posixpath.basename(key))
    kept = versions.c.artifact_path
    op.execute(
        versions.update()
        .where(kept.startswith(MODELS))
        .values(artifact_path=sa.func.substr(kept, len(MODELS) + 1))
    )


def _name_inputs(name: Callable[[int, str], str]) -> None:
    """Give each prediction job's config the name of its inputs ``name(job id, name)``."""
    connection = op.get_bind()
    jobs = connection.execute(
        sa.select(experiments.c.id, experiments.c.config).where(experiments.c.kind == "prediction")
    ).all()
    for job, config in jobs:
        inputs = (config or {}).get("inputs")
        if isinstance(inputs, str) and name(job, inputs) != inputs:
            changed = {**config, "inputs": name(job, inputs)}
            connection.execute(
                experiments.update().where(experiments.c.id == job).values(config=changed)
            )
