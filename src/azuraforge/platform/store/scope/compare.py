"""The project's view of several runs side by side: their rows, a study's runs, their curves
(store/compare.py). Each method applies its rule (:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from collections.abc import Sequence

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.compare import Curve
from azuraforge.platform.store.interfaces.compare import Compare
from azuraforge.platform.store.records import ExperimentRecord
from azuraforge.platform.store.scope.base import ScopeBase


class ScopedCompare(ScopeBase, Compare):
    """:class:`~azuraforge.platform.store.interfaces.Compare` kept to the view's project."""

    def get_experiments(
        self, experiment_ids: Sequence[int], *, project: str = DEFAULT_PROJECT
    ) -> list[ExperimentRecord]:
        return self.store.get_experiments(experiment_ids, project=self.project)

    def list_study_runs(
        self, study_id: int, *, project: str = DEFAULT_PROJECT, limit: int = 1000
    ) -> list[ExperimentRecord]:
        return self.store.list_study_runs(study_id, project=self.project, limit=limit)

    def get_curves(
        self, experiment_ids: Sequence[int], keys: Sequence[str] = ()
    ) -> dict[int, dict[str, Curve]]:
        self.check_runs(experiment_ids)
        return self.store.get_curves(experiment_ids, keys)
