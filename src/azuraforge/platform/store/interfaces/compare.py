"""Several runs side by side: their rows, a study's runs, their curves (store/compare.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.compare import Curve
from azuraforge.platform.store.records import ExperimentRecord


class Compare(Protocol):
    """Several runs side by side: their rows, a study's runs, their curves.

    A project's view forces its ``project`` and checks that each run named by id is the
    project's."""

    def get_experiments(
        self, experiment_ids: Sequence[int], *, project: str = DEFAULT_PROJECT
    ) -> list[ExperimentRecord]: ...
    def list_study_runs(
        self, study_id: int, *, project: str = DEFAULT_PROJECT, limit: int = 1000
    ) -> list[ExperimentRecord]: ...
    def get_curves(
        self, experiment_ids: Sequence[int], keys: Sequence[str] = ()
    ) -> dict[int, dict[str, Curve]]: ...
