"""A study's trial, the job kind ``trial``: a pipeline run whose intermediate metrics feed
Optuna's pruner, and whose end advances its study.

The trial runs its pipeline like any run
(:func:`~azuraforge.platform.services.experiments.run_pipeline`) while a
:class:`ObjectiveWatcher` sees each value of the study's objective as it is logged. In a study
with a pruner it reports the value to Optuna at its step and asks the pruner; a prune stops the
run at its next batch, and the run ends ``pruned`` (also when nothing was left to stop: a prune
at the last step). A study without one never opens Optuna in the trial's process (where opening
it cost a trivial trial about 10 ms): the study's next advance reports the objective's values
by step from the run's metrics (:meth:`StudyService.advance`), so they show among the trial's
intermediate values once it ended. The run's result keeps ``objective``, the best value of the
objective over the run in the study's direction (pipelines restore their best weights, so that
is the model the run leaves), which the study's next advance tells Optuna.

A trial run again after its worker died is the same Optuna trial: the values it reported
before stay, and Optuna ignores a step reported again. Once a trial ended, its worker advances
the study (tell Optuna, ask for the next trials, queue them); each reaper pass advances the
studies left with no trial queued or running (:class:`TrialKind`).
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import optuna

from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.kinds import JobHost, JobKind
from azuraforge.platform.jobs.worker import logged_failure
from azuraforge.platform.services.experiments import run_pipeline
from azuraforge.platform.services.studies import StudyService, make_pruner, prunes
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store, StudyRecord, is_unavailable
from azuraforge.platform.store.interfaces import JobView, Studies
from azuraforge.platform.store.states import CANCELLED, COMPLETED, PRUNED, TRIAL

_log = logging.getLogger(__name__)


class ObjectiveWatcher:
    """Follows one objective metric of a trial: keeps its best value and, given the Optuna
    trial of a study with a pruner, reports each value to Optuna at its step and cancels the
    run (``ctx.cancel()``) when the pruner says so.

    Parameters
    ----------
    study
        The study: its ``objective``, ``direction`` and ``pruner``.
    ctx
        The run's context, cancelled on a prune.
    trial
        The Optuna trial (of a study opened with the study's pruner); ``None`` to keep the
        best value only (a study without a pruner: its advance reports the values).
    """

    def __init__(
        self, study: StudyRecord, ctx: StoreContext, trial: optuna.Trial | None = None
    ) -> None:
        self.study, self.ctx, self.trial = study, ctx, trial
        self.best: float | None = None
        self.pruned_at: int | None = None
        self._choose = min if study.direction == "minimize" else max

    def observe(self, metrics: dict[str, float], step: int) -> None:
        """See one ``log_metrics`` call; only the objective's finite values count."""
        value = metrics.get(self.study.objective)
        if value is None or not math.isfinite(value) or self.pruned_at is not None:
            return
        self.best = value if self.best is None else self._choose(self.best, value)
        if self.trial is None:
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a step reported before a re-run: kept as is
                self.trial.report(value, max(step, 0))
            prune = self.trial.should_prune()
        except Exception as e:
            if not is_unavailable(e):
                raise
            self.ctx.logger.warning("the pruner could not be asked at step %d: %s", step, e)
            return
        if prune:
            self.pruned_at = step
            self.ctx.logger.info(
                "pruned at step %d: %s=%.6g is worse than the study's other trials there",
                step, self.study.objective, value,
            )  # fmt: skip
            self.ctx.cancel()


def run_trial(
    store: Studies, record: ExperimentRecord, settings: Settings, ctx: StoreContext
) -> tuple[str, dict[str, Any]]:
    """Run a trial of its study; its final status (``pruned`` when the pruner stopped it)
    and result, which holds ``objective`` (``None`` when the run never logged it)."""
    if record.study_id is None or record.trial_number is None:
        raise ValueError(f"experiment {record.id} is a trial of no study")
    study = store.get_study(record.study_id)
    trial = _optuna_trial(store, study, record.trial_number) if prunes(study) else None
    watcher = ObjectiveWatcher(study, ctx, trial)
    ctx.add_metric_observer(watcher.observe)
    status, result = run_pipeline(record, ctx)
    result["objective"] = watcher.best
    if watcher.pruned_at is not None and status in (CANCELLED, COMPLETED):
        # A prune at the last step (or with an early stop) leaves nothing to stop: the run
        # completes anyway, yet the pruner decided, its log says so and Optuna is told so.
        status, result["pruned_at_step"] = PRUNED, watcher.pruned_at
    return status, result


def _optuna_trial(store: Studies, study: StudyRecord, number: int) -> optuna.Trial:
    """Trial ``number`` of the study in Optuna, opened with the study's pruner."""
    storage = store.optuna_database
    optuna_study = optuna.load_study(
        study_name=study.optuna_name,
        storage=storage,
        sampler=optuna.samplers.RandomSampler(),  # the trial's values are already drawn
        pruner=make_pruner(study.pruner),
    )
    trial_id = storage.get_trial_id_from_study_id_trial_number(optuna_study._study_id, number)
    return optuna.Trial(optuna_study, trial_id)


class TrialKind(JobKind):
    """The job kind ``trial``: :func:`run_trial`; its end advances its study, and each reaper
    pass advances the studies left with no trial queued or running."""

    name = TRIAL
    listed = True

    def run(
        self, store: Studies, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        return run_trial(store, record, settings, ctx)

    def process_group(self, record: ExperimentRecord) -> str | None:
        """A study's trials share their process, one after another, as in Optuna."""
        return f"study {record.study_id}"

    def after(self, host: JobHost[JobView], record: ExperimentRecord) -> None:
        if record.study_id is not None:
            advance_studies(_studies(host), [record.study_id])

    def sweep(self, host: JobHost[Store]) -> None:
        stalled = host.store.stalled_studies()
        if stalled:
            advance_studies(_studies(host), stalled)


def _studies(host: JobHost[JobView]) -> StudyService:
    """The host's study service (one for the worker's or reaper's life; it advances
    studies and creates none, so it checks no file: no data folder)."""
    return host.keep("studies", lambda: StudyService(host.store, host.transport))


def advance_studies(studies: StudyService, study_ids: list[int]) -> None:
    """Advance each study; a failure is logged, not raised (the reaper's sweep of stalled
    studies advances it later)."""
    for study_id in study_ids:
        try:
            studies.advance(study_id)
        except Exception as e:
            logged_failure(f"advancing study {study_id}", e)
