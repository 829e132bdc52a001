"""The project's view of studies (Optuna's searches over a pipeline's config) and their trials
(store/studies.py, store/study_trials.py). Each method applies its rule
(:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import optuna

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.interfaces.studies import Studies
from azuraforge.platform.store.records import OpenTrials, StudyRecord, TrialRow, TrialRunRecord
from azuraforge.platform.store.scope.base import ScopeBase
from azuraforge.platform.store.studies import StudyLock


class ScopedStudies(ScopeBase, Studies):
    """:class:`~azuraforge.platform.store.interfaces.Studies` kept to the view's project."""

    @property
    def optuna_database(self) -> optuna.storages.RDBStorage:
        """The store's Optuna storage, as it is (Optuna's API has no project)."""
        return self.store.optuna_database

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
    ) -> StudyRecord:
        return self.store.create_study(
            name=name,
            optuna_name=optuna_name,
            pipeline=pipeline,
            base_config=base_config,
            space=space,
            objective=objective,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
            n_trials=n_trials,
            parallelism=parallelism,
            seed=seed,
            project=self.project,
            submitter=submitter,
        )

    def get_study(self, study_id: int, *, project: str | None = None) -> StudyRecord:
        return self.store.get_study(study_id, project=self.project)

    def list_studies(
        self, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[StudyRecord], int]:
        return self.store.list_studies(project=self.project, offset=offset, limit=limit)

    def delete_study(self, study_id: int) -> None:
        self.check_study(study_id)
        self.store.delete_study(study_id)

    def list_trial_runs(self, study_id: int) -> list[TrialRunRecord]:
        self.check_study(study_id)
        return self.store.list_trial_runs(study_id)

    def request_study_cancel(self, study_id: int, *, project: str | None = None) -> StudyRecord:
        return self.store.request_study_cancel(study_id, project=self.project)

    def lock_study(self, study_id: int) -> AbstractContextManager[StudyLock]:
        self.check_study(study_id)
        return self.store.lock_study(study_id)

    def list_trial_rows(self, study: StudyRecord) -> list[TrialRow]:
        self.check_study_record(study)
        return self.store.list_trial_rows(study)

    def open_trials(self, study: StudyRecord) -> OpenTrials:
        self.check_study_record(study)
        found = self.store.open_trials(study)
        # The store returns the study's project's runs alone: the advance's report of each
        # one's steps reads no run again (a run's whole row, six queries, each trial).
        self.remember_runs(run.id for run in found.runs.values())
        return found

    def report_steps(self, trial_id: int, run_id: int, objective: str) -> None:
        self.check_run(run_id)
        self.store.report_steps(trial_id, run_id, objective)

    def list_study_progress(
        self, studies: Sequence[StudyRecord]
    ) -> dict[int, tuple[int, float | None]]:
        self.check_study_records(studies)
        return self.store.list_study_progress(studies)

    def list_trial_params(
        self, study: StudyRecord, trial_ids: Collection[int] | None = None
    ) -> dict[int, dict[str, Any]]:
        self.check_study_record(study)
        return self.store.list_trial_params(study, trial_ids)

    def list_param_columns(
        self, study: StudyRecord, trial_ids: Sequence[int]
    ) -> dict[str, list[Any]]:
        self.check_study_record(study)
        return self.store.list_param_columns(study, trial_ids)

    def list_trial_steps(
        self, study: StudyRecord, trial_ids: Collection[int] | None = None
    ) -> dict[int, dict[int, float]]:
        self.check_study_record(study)
        return self.store.list_trial_steps(study, trial_ids)

    def list_trial_notes(
        self, study: StudyRecord, trial_ids: Collection[int] | None = None
    ) -> dict[int, str]:
        self.check_study_record(study)
        return self.store.list_trial_notes(study, trial_ids)
