"""The store behind interfaces: one :class:`~typing.Protocol` per concern, each implemented by
the :class:`~azuraforge.platform.store.Store` and, method by method, by its project's and its
job's views (:mod:`azuraforge.platform.store.scope`), as Optuna's ``BaseStorage`` and MLflow's
``AbstractStore`` state what a storage offers apart from how one stores it.

A route receives the interface of its concern (:data:`~azuraforge.platform.api.deps.RunsDep`
...), so mypy proves that the view it gets offers every method it calls; the contracts
(thread safety, snapshots, errors) are each method's docstring on the store.
"""

from __future__ import annotations

from typing import Protocol

from azuraforge.platform.store.interfaces.access import Access
from azuraforge.platform.store.interfaces.chat import Chat, Examples
from azuraforge.platform.store.interfaces.compare import Compare
from azuraforge.platform.store.interfaces.data import DataFiles
from azuraforge.platform.store.interfaces.metrics import Events, Metrics
from azuraforge.platform.store.interfaces.mlflow import MlflowGroups, MlflowModels
from azuraforge.platform.store.interfaces.project_settings import ProjectSettings
from azuraforge.platform.store.interfaces.registry import Registry
from azuraforge.platform.store.interfaces.runs import LeaseWrites, RunLeases, Runs
from azuraforge.platform.store.interfaces.streams import Streams
from azuraforge.platform.store.interfaces.studies import Studies


class ProjectView(
    Runs,
    RunLeases,
    Metrics,
    Events,
    Compare,
    Registry,
    Studies,
    Streams,
    Chat,
    Examples,
    MlflowGroups,
    MlflowModels,
    Access,
    DataFiles,
    ProjectSettings,
    Protocol,
):
    """Every concern a project's requests see (:class:`~azuraforge.platform.store.scope.
    ProjectStore`): for the code that works on several, such as a service a route hands its
    view to."""


class RunsAndMetrics(Runs, Metrics, Protocol):
    """A run's row and what it measured: a run's metrics, a stream's scores and pace."""


class RunsAndDataFiles(Runs, DataFiles, Protocol):
    """Runs and the project's data files: a job started on a file of its data folder."""


class RunsAndEvents(Runs, Events, Protocol):
    """A run's row and its events: its logs."""


class RunsAndLeases(Runs, RunLeases, Protocol):
    """A run's row and what its lease keeps: a stream's checkpoint."""


class RunsAndMlflowGroups(Runs, MlflowGroups, Protocol):
    """Runs and their MLflow groups: an MLflow run started, renamed or ended."""


class MlflowRuns(MlflowGroups, MlflowModels, Protocol):
    """MLflow's runs and the logged models they link: a run read, searched or written."""


class MlflowTracking(RunsAndMlflowGroups, MlflowModels, Protocol):
    """Runs, their MLflow groups and logged models: an MLflow run started and answered."""


class RunsAndRegistry(Runs, Registry, Protocol):
    """Runs and the model registry: a run's model registered, a version's prediction job."""


class RunsAndChat(Runs, Chat, Protocol):
    """Runs and the project's chat turns: a nightly pass over the turns queued."""


class RunsAndExamples(Runs, Examples, Protocol):
    """Runs and an expert's examples: a fine-tune on its approved examples queued."""


class RunsAndCompare(Runs, Compare, Protocol):
    """Runs and their curves side by side: runs compared."""


class RunsAndStudies(Runs, Studies, Protocol):
    """Studies and their trials' runs: a study created, deleted or stopped."""


class RunsAndStreams(Runs, Streams, Protocol):
    """A stream's row and its changes, triggers and alerts."""


class JobView(ProjectView, LeaseWrites, Protocol):
    """What a project's job sees (:class:`~azuraforge.platform.store.scope.JobStore`): its
    project's view and the writes through its own lease."""


__all__ = [
    "Access",
    "Chat",
    "Compare",
    "DataFiles",
    "Events",
    "Examples",
    "JobView",
    "LeaseWrites",
    "Metrics",
    "MlflowGroups",
    "MlflowModels",
    "MlflowRuns",
    "MlflowTracking",
    "ProjectSettings",
    "ProjectView",
    "Registry",
    "RunLeases",
    "Runs",
    "RunsAndChat",
    "RunsAndCompare",
    "RunsAndDataFiles",
    "RunsAndEvents",
    "RunsAndExamples",
    "RunsAndLeases",
    "RunsAndMetrics",
    "RunsAndMlflowGroups",
    "RunsAndRegistry",
    "RunsAndStreams",
    "RunsAndStudies",
    "Streams",
    "Studies",
]
