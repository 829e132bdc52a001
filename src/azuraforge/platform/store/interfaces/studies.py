"""Studies (Optuna's searches over a pipeline's config) and their trials (store/studies.py,
store/study_trials.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import optuna

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.records import OpenTrials, StudyRecord, TrialRow, TrialRunRecord
from azuraforge.platform.store.studies import StudyLock


class Studies(Protocol):
    """Studies and their trials: created, read, listed, cancelled, deleted, locked while advanced,
    and their trials' rows, params, steps and notes.

    A project's view forces its ``project``, checks that each study named by id and each study's
    record given is the project's, and each run named by id. Optuna's storage is Optuna's own
    API over the whole database: code opens a study in it by the ``optuna_name`` of a record
    read through the view."""

    @property
    def optuna_database(self) -> optuna.storages.RDBStorage: ...

    def create_study(
        self,
        *,
        name: str,
        optuna_name: str,
        pipeline: str,
        base_config: Mapping[str, Any],
        space: Mapping[str, Any],
        objective: str,
        direction: str,
        sampler: str,
        pruner: str,
        n_trials: int,
        parallelism: int,
        seed: int | None,
        project: str = DEFAULT_PROJECT,
        submitter: str | None = None,
    ) -> StudyRecord: ...
    def get_study(self, study_id: int, *, project: str | None = None) -> StudyRecord: ...
    def list_studies(
        self, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[StudyRecord], int]: ...
    def delete_study(self, study_id: int) -> None: ...
    def list_trial_runs(self, study_id: int) -> list[TrialRunRecord]: ...
    def request_study_cancel(
        self, study_id: int, *, project: str | None = None
    ) -> StudyRecord: ...
    def lock_study(self, study_id: int) -> AbstractContextManager[StudyLock]: ...
    def list_trial_rows(self, study: StudyRecord) -> list[TrialRow]: ...
    def open_trials(self, study: StudyRecord) -> OpenTrials: ...
    def report_steps(self, trial_id: int, run_id: int, objective: str) -> None: ...
    def list_study_progress(
        self, studies: Sequence[StudyRecord]
    ) -> dict[int, tuple[int, float | None]]: ...
    def list_trial_params(
        self, study: StudyRecord, trial_ids: Collection[int] | None = None
    ) -> dict[int, dict[str, Any]]: ...
    def list_param_columns(
        self, study: StudyRecord, trial_ids: Sequence[int]
    ) -> dict[str, list[Any]]: ...
    def list_trial_steps(
        self, study: StudyRecord, trial_ids: Collection[int] | None = None
    ) -> dict[int, dict[int, float]]: ...
    def list_trial_notes(
        self, study: StudyRecord, trial_ids: Collection[int] | None = None
    ) -> dict[int, str]: ...
