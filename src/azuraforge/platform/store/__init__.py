"""The store: experiments, leases, metrics, events and artifacts in SQLite or PostgreSQL.

``upgrade_database(url)`` creates or migrates the schema, ``create_if_empty(url)`` creates it
only in a database that has none; ``Store(url)`` opens it.
"""

from __future__ import annotations

from azuraforge.platform.store.access import AccessStore, Credential, TokenRecord, UserRecord
from azuraforge.platform.store.alerts import AlertRecord, AlertStore, DeliveryRecord
from azuraforge.platform.store.base import DEFAULT_PROJECT, is_disk_full, is_unavailable
from azuraforge.platform.store.census import CensusStore, JobCount
from azuraforge.platform.store.chat import ChatStore
from azuraforge.platform.store.compare import CompareStore
from azuraforge.platform.store.data_files import DataFileRecord, DataFileStore
from azuraforge.platform.store.data_uses import DataFileUses, DataUseStore
from azuraforge.platform.store.duties import DutyStore
from azuraforge.platform.store.engine import (
    check_schema,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from azuraforge.platform.store.examples import ExampleStore
from azuraforge.platform.store.experiment_query import ExperimentQuery, QueryError
from azuraforge.platform.store.experiments import ExperimentStore
from azuraforge.platform.store.external import ExternalRunStore
from azuraforge.platform.store.keys import KeyStore, ServerKeyRecord
from azuraforge.platform.store.leases import LeaseStore
from azuraforge.platform.store.logins import LoginFailures, LoginStore
from azuraforge.platform.store.metrics import JobWrites, MetricStore, Point
from azuraforge.platform.store.mlflow import MlflowStore
from azuraforge.platform.store.mlflow_models import MlflowModelStore
from azuraforge.platform.store.mlflow_run_io import MlflowRunIOStore
from azuraforge.platform.store.mlflow_runs import MlflowRunStore
from azuraforge.platform.store.project_settings import ProjectSettingStore
from azuraforge.platform.store.records import (
    AliasMoveRecord,
    ArtifactRecord,
    EventRecord,
    ExperimentRecord,
    Lease,
    MetricSummaryRecord,
    ModelRecord,
    ModelVersionRecord,
    OpenTrials,
    Page,
    RunCredentialRecord,
    StudyRecord,
    TrialRow,
    TrialRunRecord,
)
from azuraforge.platform.store.registry import RegistryStore
from azuraforge.platform.store.registry_aliases import AliasStore
from azuraforge.platform.store.registry_changes import RegistryChangeStore
from azuraforge.platform.store.server import ServerStore
from azuraforge.platform.store.server_settings import ServerSettingsRecord, ServerSettingsStore
from azuraforge.platform.store.streams import ChangeRecord, StreamStore, TriggerRecord
from azuraforge.platform.store.studies import StudyStore
from azuraforge.platform.store.study_trials import StudyTrialStore
from azuraforge.platform.store.tags import TagStore


class Store(
    ExperimentStore,
    MlflowRunIOStore,
    MlflowModelStore,
    MlflowRunStore,
    MlflowStore,
    ExternalRunStore,
    LeaseStore,
    MetricStore,
    CompareStore,
    AliasStore,
    RegistryChangeStore,
    RegistryStore,
    StudyStore,
    StudyTrialStore,
    StreamStore,
    AlertStore,
    AccessStore,
    LoginStore,
    ServerStore,
    DutyStore,
    DataUseStore,
    DataFileStore,
    KeyStore,
    TagStore,
    ProjectSettingStore,
    ServerSettingsStore,
    ChatStore,
    ExampleStore,
    CensusStore,
):
    """The platform's store, opened by URL (``sqlite:///af.db``, ``postgresql://…``).

    Opening checks that the database schema is the one this version needs
    (:class:`~azuraforge.errors.SchemaMismatchError` names ``azuraforge db upgrade``
    otherwise). Methods are safe from several threads and processes; returned records are
    snapshots; finished runs change only by deletion.
    """


def upgrade_database(url: str) -> str:
    """Create or migrate the database at ``url`` to this version's schema; return its revision."""
    engine = make_engine(url)
    try:
        current_revision(engine)  # a store that cannot be opened: one error naming why
        upgrade(engine)
    finally:
        engine.dispose()
    return head_revision()


def create_if_empty(url: str) -> bool:
    """Create this version's schema when the database at ``url`` has none; ``True`` if it did.

    A database at another revision is left as it is (:class:`Store` then refuses it, naming
    ``azuraforge db upgrade``): an existing store is never migrated without being asked.
    """
    engine = make_engine(url)
    try:
        if current_revision(engine) is not None:
            return False
        upgrade(engine)
    finally:
        engine.dispose()
    return True


__all__ = [
    "DEFAULT_PROJECT",
    "AccessStore",
    "AlertRecord",
    "AliasMoveRecord",
    "ArtifactRecord",
    "ChangeRecord",
    "Credential",
    "DataFileRecord",
    "DataFileStore",
    "DataFileUses",
    "DeliveryRecord",
    "EventRecord",
    "ExperimentQuery",
    "ExperimentRecord",
    "JobCount",
    "JobWrites",
    "Lease",
    "LoginFailures",
    "MetricSummaryRecord",
    "ModelRecord",
    "ModelVersionRecord",
    "OpenTrials",
    "Page",
    "Point",
    "QueryError",
    "RunCredentialRecord",
    "ServerKeyRecord",
    "ServerSettingsRecord",
    "Store",
    "StudyRecord",
    "TokenRecord",
    "TrialRow",
    "TrialRunRecord",
    "TriggerRecord",
    "UserRecord",
    "check_schema",
    "create_if_empty",
    "head_revision",
    "is_disk_full",
    "is_unavailable",
    "upgrade_database",
]
