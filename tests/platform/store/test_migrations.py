"""Migrations: empty → head → base → head on SQLite and PostgreSQL, the ORM matches the head
schema (``compare_metadata``), and the store refuses a database that is not at head.

Every test runs on both databases (``empty_url``'s parameters, ``on_both_databases``): a
migration is DDL, which each dialect runs (and SQLite rebuilds tables for) its own way."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from optuna.storages._rdb import models as optuna_models
from sqlalchemy import Column, MetaData, Text, create_engine, inspect, text

from azuraforge.errors import SchemaMismatchError
from azuraforge.platform.store import Store, head_revision, make_engine, upgrade_database
from azuraforge.platform.store import engine as engines
from azuraforge.platform.store.models import Base
from tests.platform.fixtures import POSTGRES_SERVER, committed_events

TABLES = {
    "alembic_version",
    "assist_examples",
    "projects",
    "project_settings",
    "users",
    "project_members",
    "api_tokens",
    "audit_log",
    "login_failures",
    "server_identity",
    "server_keys",
    "duties",
    "experiments",
    "run_credentials",
    "run_batches",
    "run_tags",
    "mlflow_experiments",
    "mlflow_experiment_tags",
    "mlflow_runs",
    "mlflow_logged_models",
    "mlflow_logged_model_values",
    "mlflow_logged_model_metrics",
    "mlflow_datasets",
    "mlflow_run_inputs",
    "mlflow_run_models",
    "metric_nans",
    "params",
    "metric_points",
    "metric_summaries",
    "run_scores",
    "stream_outcomes",
    "stream_changes",
    "stream_triggers",
    "stream_alerts",
    "alert_deliveries",
    "events",
    "artifacts",
    "registered_models",
    "model_versions",
    "model_version_mlflow",
    "model_aliases",
    "alias_moves",
    "tuning_studies",
    "chat_conversations",
    "chat_turns",
    "backend_performance",
    "chat_cache",
    "chat_cache_stats",
    "data_files",
    "server_settings",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables: a new SQLite file, or a new PostgreSQL database (dropped
    after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"azuraforge_migrate_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        POSTGRES_SERVER.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_empty_to_head_to_base_to_head(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        assert engines.current_revision(engine) is None
        assert upgrade_database(empty_url) == head_revision()
        assert engines.current_revision(engine) == head_revision()
        assert tables(empty_url) == TABLES
        with engine.connect() as connection:
            projects = connection.execute(text("SELECT id, name FROM projects")).all()
        assert [tuple(p) for p in projects] == [(1, "default")]

        engines.downgrade(engine)
        assert engines.current_revision(engine) is None
        assert tables(empty_url) == {"alembic_version"}

        engines.upgrade(engine)
        assert engines.current_revision(engine) == head_revision()
        assert tables(empty_url) == TABLES
    finally:
        engine.dispose()
    # The migrated database works as a store.
    store = Store(empty_url)
    try:
        record = store.create_experiment("sleeper", {"steps": 2})
        assert store.claim_next("w", 30.0) is not None
        assert store.get_experiment(record.id).status == "running"
        # The first project made after the migrations takes the next id (on PostgreSQL its
        # sequence once stood at the row the first migration inserted, and this failed).
        store.create_project("team")
        assert store.list_projects() == ["default", "team"]
    finally:
        store.close()


def test_upgrading_twice_changes_nothing(empty_url: str) -> None:
    upgrade_database(empty_url)
    upgrade_database(empty_url)
    store = Store(empty_url)
    try:
        assert store.list_experiments().total == 0
    finally:
        store.close()


def ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Whether a database object is the store's: Optuna keeps its own tables (studies,
    trials...) in the same database, outside our migrations."""
    return type_ != "table" or name not in optuna_models.BaseModel.metadata.tables


@pytest.mark.on_both_databases
def test_the_models_match_the_migrated_schema(database_url: str) -> None:
    # Fails when a model changes without a migration (or a migration without the model).
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            options = {"compare_type": True, "include_name": ours}
            context = MigrationContext.configure(connection, opts=options)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


@pytest.mark.on_both_databases
def test_the_model_check_sees_a_column_without_a_migration(database_url: str) -> None:
    changed = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["experiments"].append_column(Column("remarks", Text(), nullable=True))
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": ours})
            diff = compare_metadata(context, changed)
    finally:
        engine.dispose()
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "experiments", "remarks")]


def test_the_revisions_read_from_the_migration_files_are_alembics() -> None:
    """The store's schema check reads each migration's revision from its file, without Alembic
    (:func:`~azuraforge.platform.store.engine.head_revision`): the same line as Alembic's."""
    scripts = engines._scripts()
    alembics = {script.revision: script.down_revision for script in scripts.walk_revisions()}
    assert engines._revisions() == alembics
    assert head_revision() == scripts.get_current_head()


def test_the_store_refuses_an_empty_database(empty_url: str) -> None:
    shown = empty_url
    message = (
        f"the store {shown} has no AzuraForge tables yet; create them with: "
        f"azuraforge db upgrade --database-url {shown}"
    )
    with pytest.raises(SchemaMismatchError, match=f"^{re.escape(message)}$"):
        Store(empty_url)


def test_the_store_refuses_a_downgraded_database(empty_url: str) -> None:
    upgrade_database(empty_url)
    engine = make_engine(empty_url)
    engines.downgrade(engine)
    engine.dispose()
    with pytest.raises(SchemaMismatchError, match="azuraforge db upgrade --database-url"):
        Store(empty_url)


def set_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            update = text("UPDATE alembic_version SET version_num = :revision")
            connection.execute(update, {"revision": revision})
    finally:
        engine.dispose()


@pytest.mark.on_both_databases
def test_the_store_refuses_a_database_at_an_older_revision(database_url: str) -> None:
    set_revision(database_url, "0001_initial")
    try:
        shown = database_url
        message = (
            f"the store {shown} is at schema 0001_initial, this AzuraForge needs "
            f"{head_revision()}; back up the database, then run: "
            f"azuraforge db upgrade --database-url {shown}"
        )
        with pytest.raises(SchemaMismatchError, match=f"^{re.escape(message)}$"):
            Store(database_url)
        # Opening without the check is what ``azuraforge db upgrade`` itself does.
        Store(database_url, check_schema=False).close()
    finally:
        set_revision(database_url, head_revision())  # the PostgreSQL database is shared


def test_a_populated_store_keeps_its_runs_down_to_the_first_schema_and_up_again(
    empty_url: str,
) -> None:
    upgrade_database(empty_url)
    store = Store(empty_url)
    try:
        run = store.create_experiment("sleeper", {"steps": 3}, name="kept")
        lease = store.claim(run.id, "w", 30.0)
        assert lease is not None
        store.log_metrics(lease, [("loss", step, 1.0 / step, 1.0) for step in (1, 2, 3)])
        store.finish(lease, "completed", result={"metrics": {"MAE": {"model": 1.0}}})
        events = [(e.kind, e.payload) for e in store.list_events(experiment_id=run.id)]
    finally:
        store.close()
    engine = make_engine(empty_url)
    try:
        engines.downgrade(engine, "0001_initial")
        engines.upgrade(engine)
    finally:
        engine.dispose()
    store = Store(empty_url)
    try:
        again = store.get_experiment(run.id)
        assert (again.name, again.status, again.config) == ("kept", "completed", {"steps": 3})
        assert [p[:2] for p in store.get_metrics(run.id)["loss"]] == [
            (1, 1.0),
            (2, 0.5),
            (3, 1 / 3),
        ]
        assert [(e.kind, e.payload) for e in store.list_events(experiment_id=run.id)] == events
        assert committed_events(store, (0, 0), {run.id}, len(events))[-1].experiment_id == run.id
        assert store.list_experiments().items[0].metrics["loss"] == 1 / 3
        if store.dialect == "sqlite":  # rebuilt tables still never reuse a deleted run's ids
            with store.engine.connect() as connection:
                for table in ("experiments", "events"):
                    sql = connection.exec_driver_sql(
                        "SELECT sql FROM sqlite_master WHERE name = ?", (table,)
                    ).scalar_one()
                    assert "AUTOINCREMENT" in sql, table
    finally:
        store.close()


@pytest.mark.on_both_databases
def test_a_database_a_newer_version_migrated_is_refused_without_upgrade_advice(
    database_url: str,
) -> None:
    set_revision(database_url, "9999_from_the_future")
    try:
        with pytest.raises(SchemaMismatchError, match="a newer AzuraForge migrated it") as refused:
            Store(database_url)
        assert "db upgrade" not in str(refused.value)
    finally:
        set_revision(database_url, head_revision())
