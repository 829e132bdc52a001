"""What every scoped view of the store holds: the store, the project, and the checks that keep
an id or a record to the project (:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from collections.abc import Iterable

from azuraforge.errors import AzuraForgeError
from azuraforge.platform.store import Store
from azuraforge.platform.store.records import StudyRecord


class ScopeError(AzuraForgeError):
    """A method a project's requests may not call (a programming error, never a request's)."""


class ScopeBase:
    """``store`` as the project ``project`` sees it: each concern's view (``scope/runs.py``...)
    applies one of the module's rules in each of its methods, with the checks below.

    Checked ids are remembered for the view's life (one request's), so a route that reads
    a run's metrics, artifacts and events checks the run once.
    """

    callers = "a project's requests"
    """Who sees the store so, as a refusal names them."""

    def __init__(self, store: Store, project: str) -> None:
        self.store, self.project = store, project
        self._mine: set[tuple[str, int]] = set()

    def check_run(self, experiment_id: int | None) -> None:
        """Raise :class:`NotFoundError` unless run ``experiment_id`` is this project's."""
        if experiment_id is None:
            raise _unnamed("experiment_id")
        if ("run", experiment_id) in self._mine:
            return
        if self.store.find_experiment(experiment_id, project=self.project) is None:
            raise self.store.not_found(f"experiment {experiment_id}", self.project)
        self._mine.add(("run", experiment_id))

    def remember_runs(self, experiment_ids: Iterable[int]) -> None:
        """Take runs ``experiment_ids`` as checked: a read of the store kept to the project
        found them."""
        self._mine.update(("run", experiment_id) for experiment_id in experiment_ids)

    def check_runs(self, experiment_ids: Iterable[int]) -> None:
        """:meth:`check_run` each of ``experiment_ids``."""
        for experiment_id in experiment_ids:
            self.check_run(experiment_id)

    def check_study(self, study_id: int | None) -> None:
        """Raise :class:`NotFoundError` unless study ``study_id`` is this project's."""
        if study_id is None:
            raise _unnamed("study_id")
        if ("study", study_id) not in self._mine:
            self.store.get_study(study_id, project=self.project)
            self._mine.add(("study", study_id))

    def check_study_record(self, study: StudyRecord) -> None:
        """Raise :class:`NotFoundError` unless ``study`` (read through this view or not) is
        this project's."""
        if study.project != self.project:
            raise self.store.not_found(f"study {study.id}", self.project)

    def check_study_records(self, studies: Iterable[StudyRecord]) -> None:
        """:meth:`check_study_record` each of ``studies``."""
        for study in studies:
            self.check_study_record(study)


def _unnamed(name: str) -> ScopeError:
    return ScopeError(f"a project's requests name the {name} they read (got None)")
