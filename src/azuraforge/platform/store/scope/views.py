"""The two scoped views of the store: :class:`ProjectStore`, a project's requests', and
:class:`JobStore`, a project's jobs'; each is every concern's view, method by method
(the rules: :mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from azuraforge.platform.store import Store
from azuraforge.platform.store.interfaces import JobView, ProjectView
from azuraforge.platform.store.records import Lease
from azuraforge.platform.store.scope.access import ScopedAccess
from azuraforge.platform.store.scope.chat import ScopedChat, ScopedExamples
from azuraforge.platform.store.scope.compare import ScopedCompare
from azuraforge.platform.store.scope.data import ScopedDataFiles
from azuraforge.platform.store.scope.metrics import ScopedEvents, ScopedMetrics
from azuraforge.platform.store.scope.mlflow import ScopedMlflowGroups, ScopedMlflowModels
from azuraforge.platform.store.scope.project_settings import ScopedProjectSettings
from azuraforge.platform.store.scope.registry import ScopedRegistry
from azuraforge.platform.store.scope.runs import OwnLeaseWrites, ScopedRunLeases, ScopedRuns
from azuraforge.platform.store.scope.streams import ScopedStreams
from azuraforge.platform.store.scope.studies import ScopedStudies


class ProjectStore(
    ScopedRuns,
    ScopedRunLeases,
    ScopedMetrics,
    ScopedEvents,
    ScopedCompare,
    ScopedRegistry,
    ScopedStudies,
    ScopedStreams,
    ScopedChat,
    ScopedExamples,
    ScopedMlflowGroups,
    ScopedMlflowModels,
    ScopedAccess,
    ScopedDataFiles,
    ScopedProjectSettings,
):
    """``store`` as the project ``project`` sees it: what an API request works on
    (:data:`~azuraforge.platform.api.deps.RunsDep`...), so that no route can read or change
    another project's rows, whatever ids it is sent."""


class JobStore(ProjectStore, OwnLeaseWrites):
    """``store`` as a job of ``project`` holding ``lease`` sees it: what the project's requests
    may call, and the writes through a lease (:class:`~azuraforge.platform.store.interfaces.
    LeaseWrites`) on ``lease`` alone. ``lease`` is ``None`` for a kind's step once its job
    ended (:meth:`~azuraforge.platform.jobs.kinds.JobKind.after`), which writes through none.

    The kernel hands each job's code this store
    (:class:`~azuraforge.platform.jobs.context.StoreContext`), whatever its kind, so that no
    kind reads or changes another project's rows, whatever ids and names its config holds.
    """

    callers = "a project's jobs"

    def __init__(self, store: Store, project: str, lease: Lease | None = None) -> None:
        super().__init__(store, project)
        self.lease = lease


def _views_offer_their_interfaces(
    store: Store, project: ProjectStore, job: JobStore
) -> tuple[JobView, ProjectView, JobView]:
    """Nothing at run time: mypy checks here that the store and both views offer every
    method of their interfaces, with the store's own signatures."""
    return store, project, job
