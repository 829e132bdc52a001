"""Hyper-parameter studies on Optuna: define one, advance it trial by trial, cancel, report.

A study's trials are runs of the platform (``kind="trial"``) that any worker runs, local or
Celery. Optuna keeps the study in its tables of the same database and is used by ask and
tell with fixed distributions: :meth:`StudyService.advance` tells Optuna how each finished
trial ended, then asks it for new trials while fewer than ``parallelism`` are queued or
running and the budget is not spent, and queues a run for each. It is idempotent and holds
the study's lock, so it is called freely: when the study is created, by a worker after each
trial it ran, and by the reaper for a study left without a running trial.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import optuna
from optuna.trial import TrialState

from azuraforge.apps import get_pipeline
from azuraforge.apps.base import Pipeline
from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.jobs.queueing import NewJob, enqueue, withdraw
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.services.study_space import (
    distributions,
    grid_of,
    parse_space,
    with_first_values,
)
from azuraforge.platform.services.study_views import StudyReport, StudyViews
from azuraforge.platform.services.validation import ConfigError, validate_config
from azuraforge.platform.store import (
    DEFAULT_PROJECT,
    OpenTrials,
    StudyRecord,
    TrialRunRecord,
)
from azuraforge.platform.store.interfaces import RunsAndStudies
from azuraforge.platform.store.metrics import check_metric_name
from azuraforge.platform.store.states import (
    CANCELLED,
    COMPLETED,
    FINISHED_STATES,
    PRUNED,
    TRIAL,
)
from azuraforge.platform.store.studies import (
    ACTIVE,
    STUDY_CANCELLED,
    STUDY_COMPLETED,
    STUDY_FINISHED,
    StudyLock,
)
from azuraforge.platform.store.study_trials import NOTE

_log = logging.getLogger(__name__)
_RUNNING = TrialState.RUNNING.name
"""A trial's state in Optuna's table while it has no end told."""
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class StudyDefinition:
    """What a study searches and how (what ``POST /studies`` receives)."""

    pipeline: str
    space: Mapping[str, Any]
    base_config: Mapping[str, Any] = field(default_factory=dict)
    objective: str = "val_loss"
    direction: str = "minimize"
    sampler: str = "tpe"
    pruner: str = "median"
    n_trials: int = 20
    parallelism: int = 1
    seed: int | None = None
    name: str | None = None


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """``median`` (Optuna's median stopping rule: after 5 finished trials, stop a trial whose
    value at a step is worse than the median of the others at that step), ``hyperband``, or
    ``none``."""
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def prunes(study: StudyRecord) -> bool:
    """Whether the study has a pruner: its trials' processes then report each value of the
    objective to Optuna as it is logged, to ask the pruner; otherwise the study's advance
    reports them once the trial ended, and a trial's process never opens Optuna."""
    return study.pruner != "none"


def make_sampler(study: StudyRecord, trials_so_far: int) -> optuna.samplers.BaseSampler:
    """The study's sampler for its next trial. Samplers are made afresh for each ask, in any
    process, so a seeded study seeds each trial's draw with ``seed + trials so far`` (one seed
    for all would draw the same values again); the grid keeps one seed, which fixes its
    order."""
    if study.sampler == "grid":
        grid = grid_of(study.space)
        return optuna.samplers.GridSampler(grid, seed=study.seed if study.seed is not None else 0)
    seed = None if study.seed is None else (study.seed + trials_so_far) % 2**32
    if study.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


class StudyService:
    """Studies of one store, whose trials reach workers through ``transport``.

    Optuna's storage is the store's (:attr:`~azuraforge.platform.store.Store.optuna_database`);
    a process that forks must make its own service in the child.
    """

    def __init__(
        self, store: RunsAndStudies, transport: Transport, *, data_folder: DataFolder | None = None
    ) -> None:
        self.store, self.transport, self.data_folder = store, transport, data_folder
        self._storage: optuna.storages.BaseStorage | None = None
        self._loaded: dict[str, optuna.Study] = {}
        self.views = StudyViews(store)
        """What the study pages show (summary, trials, points, importances, report)."""

    @property
    def storage(self) -> optuna.storages.BaseStorage:
        """Optuna's storage in the store's database, behind Optuna's cache of finished trials
        (kept for the service's life: a cache made per call reads every trial each time)."""
        if self._storage is None:
            self._storage = optuna.storages.get_storage(self.store.optuna_database)
        return self._storage

    def bound_to(self, store: RunsAndStudies, data_folder: DataFolder) -> StudyService:
        """This service working through ``store`` (one project's view of the same database,
        a request's) and that project's ``data_folder``: the same Optuna storage and loaded
        studies."""
        bound = copy.copy(self)
        bound.store, bound.views, bound.data_folder = store, StudyViews(store), data_folder
        return bound

    def close(self) -> None:
        """Close Optuna's pooled connections."""
        if self._storage is not None:
            self.store.optuna_database.engine.dispose()

    def create(
        self,
        definition: StudyDefinition,
        *,
        project: str = DEFAULT_PROJECT,
        submitter: str | None = None,
    ) -> StudyRecord:
        """Validate a study, store it and queue its first trials (up to its parallelism);
        ``submitter`` (who asked for it) is every trial's.

        All or nothing: when the first trials cannot be queued (a broker that cannot be
        reached), the study is withdrawn.

        Raises
        ------
        ConfigError
            Naming each bad field by its path (``space.lr.low``, ``config.epochs``...).
        InvalidParameterError
            For a bad objective, direction, sampler, pruner, budget or parallelism.
        """
        checked = self._checked(definition)
        self.transport.check()
        name = definition.name or f"{definition.pipeline}-study-{uuid.uuid4().hex[:8]}"
        study = self.store.create_study(
            name=name,
            optuna_name=f"azuraforge-{uuid.uuid4().hex}",
            project=project,
            submitter=submitter,
            **checked,
        )
        try:
            optuna.create_study(
                storage=self.storage,
                study_name=study.optuna_name,
                direction=optuna.study.StudyDirection[study.direction.upper()],
            )
            return self.advance(study.id)
        except BaseException:
            self._withdraw(study)
            raise

    def _checked(self, definition: StudyDefinition) -> dict[str, Any]:
        """The study's stored fields, validated (a grid's budget capped at its size)."""
        _choose("direction", definition.direction, DIRECTIONS)
        _choose("sampler", definition.sampler, SAMPLERS)
        _choose("pruner", definition.pruner, PRUNERS)
        try:
            check_metric_name(definition.objective)
        except InvalidParameterError as e:
            raise ConfigError("study", [(("objective",), str(e))], field="body") from None
        pipeline = get_pipeline(definition.pipeline)
        base = self._base_config(pipeline, definition)
        space = parse_space(pipeline, base, definition.space, self.data_folder)
        n_trials = definition.n_trials
        if definition.sampler == "grid":
            n_trials = min(n_trials, math.prod(len(v) for v in grid_of(space).values()))
        return dict(
            pipeline=definition.pipeline, base_config=base, space=space,
            objective=definition.objective, direction=definition.direction,
            sampler=definition.sampler, pruner=definition.pruner, n_trials=n_trials,
            parallelism=min(definition.parallelism, n_trials), seed=definition.seed,
        )  # fmt: skip

    def _base_config(
        self, pipeline: type[Pipeline[Any]], definition: StudyDefinition
    ) -> dict[str, Any]:
        """The base config validated, a required setting it lacks taken from the space; the
        settings it took from there are left out (each trial sets them)."""
        given = definition.base_config
        filled = with_first_values(pipeline, given, definition.space)
        base = validate_config(pipeline, filled, self.data_folder)
        return {key: value for key, value in base.items() if key in given or key not in filled}

    def _withdraw(self, study: StudyRecord) -> None:
        runs = [self.store.get_experiment(run.id) for run in self.store.list_trial_runs(study.id)]
        withdraw(self.store, runs)
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=study.optuna_name, storage=self.storage)
        self._loaded.pop(study.optuna_name, None)
        self.store.delete_study(study.id)

    def advance(self, study_id: int) -> StudyRecord:
        """Tell Optuna how every finished trial ended, then queue new trials while fewer than
        ``parallelism`` are queued or running, the budget is not spent and no cancel was
        asked; end the study when nothing is left to run. Idempotent; holds the study's lock.

        Raises
        ------
        TransportUnavailableError
            When a new trial's run cannot be sent (it is withdrawn; the next advance asks
            again for that trial).
        """
        with self.store.lock_study(study_id) as lock:
            study = lock.study
            if study.status in STUDY_FINISHED:
                return study
            optuna_study = self._load(study)
            found = self.store.open_trials(study)
            for trial_id, number, state in found.trials:
                run = found.runs.get(number)
                if state == _RUNNING and run and run.status in FINISHED_STATES:
                    if not prunes(study):  # its process did not report them
                        self.store.report_steps(trial_id, run.id, study.objective)
                    _tell(optuna_study, trial_id, run)
            self._fill(lock, optuna_study, found)
        return lock.study

    def _fill(self, lock: StudyLock, optuna_study: optuna.Study, found: OpenTrials) -> None:
        """Queue runs up to the parallelism (first for trials Optuna has and the store lacks:
        an advance that died between ask and queue), then record the count, or the end.
        Only a trial Optuna has not finished has a run queued or running."""
        study = lock.study
        cancelled = study.cancel_requested_at is not None
        active = sum(run.status in ACTIVE for run in found.runs.values())
        active += self._queue_missing(study, optuna_study, found, cancelled=cancelled)
        created = found.created
        space = distributions(study.space)
        while not cancelled and active < study.parallelism and created < study.n_trials:
            optuna_study.sampler = make_sampler(study, created)
            asked = optuna_study.ask(space)
            created += 1
            self._queue(study, asked.number, asked.params)
            active += 1
        values: dict[str, Any] = {"trials_created": created}
        if active == 0 and (cancelled or created >= study.n_trials):
            values.update(
                status=STUDY_CANCELLED if cancelled else STUDY_COMPLETED, finished_at=time.time()
            )
        lock.update(**values)

    def _queue_missing(
        self, study: StudyRecord, optuna_study: optuna.Study, found: OpenTrials, *,
        cancelled: bool,
    ) -> int:  # fmt: skip
        """Queue a run for each trial Optuna has and the store lacks (an advance that died
        between ask and queue), or fail it in Optuna once the study is ``cancelled``; the
        count queued."""
        queued = 0
        for trial_id, number, state in found.trials:
            if state == _RUNNING and number not in found.runs:
                if cancelled:
                    _finish(optuna_study._storage, trial_id, TrialState.FAIL)
                else:
                    params = optuna_study._storage.get_trial(trial_id).params
                    self._queue(study, number, params)
                    queued += 1
        return queued

    def _queue(self, study: StudyRecord, number: int, params: Mapping[str, Any]) -> None:
        """Store and send the run of trial ``number``; a run that cannot be sent is withdrawn."""
        trial = NewJob(
            study.pipeline, {**study.base_config, **params}, kind=TRIAL, project=study.project,
            submitter=study.submitter, name=f"{study.name}-trial-{number}", requeue_lost=True,
            study_id=study.id, trial_number=number,
        )  # fmt: skip
        try:
            enqueue(self.store, self.transport, trial)
        except ConflictError:  # a run of that name exists: let the store name this one
            enqueue(self.store, self.transport, replace(trial, name=None))

    def _load(self, study: StudyRecord) -> optuna.Study:
        """Optuna's study, loaded once per service: a handle whose trials are read through
        the storage at each use (loading it again cost each advance two queries)."""
        if study.optuna_name not in self._loaded:
            self._loaded[study.optuna_name] = optuna.load_study(
                study_name=study.optuna_name,
                storage=self.storage,
                sampler=make_sampler(study, 0),
                pruner=make_pruner(study.pruner),
            )
        return self._loaded[study.optuna_name]

    def cancel(self, study_id: int, *, project: str | None = None) -> StudyRecord:
        """Stop a study: its queued trials are dropped, its running ones asked to stop (each
        ends ``cancelled`` at its next batch); the study ends ``cancelled`` when none is left.

        Raises
        ------
        ConflictError
            If the study already ended.
        """
        self.store.get_study(study_id, project=project)
        with self.store.lock_study(study_id) as lock:
            if lock.study.status in STUDY_FINISHED:
                raise ConflictError(
                    f"study {study_id} already ended as {lock.study.status}; nothing to cancel"
                )
            if lock.study.cancel_requested_at is None:
                lock.update(cancel_requested_at=time.time())
            for run in self.store.list_trial_runs(study_id):
                if run.status in ACTIVE:
                    with contextlib.suppress(ConflictError):  # it ended meanwhile
                        self.store.request_cancel(run.id)
                    self.transport.cancel(run.id)
        return self.advance(study_id)

    def report(self, study_id: int, *, project: str | None = None) -> StudyReport:
        """The study with its trials, best trial, optimisation history and importances
        (:meth:`StudyViews.report`)."""
        return self.views.report(study_id, project=project)


def _tell(optuna_study: optuna.Study, trial_id: int, run: TrialRunRecord) -> None:
    """Tell Optuna how ``run`` ended: its objective's best value, pruned (with its last
    reported value, as Optuna's ``tell`` does), or failed (why)."""
    storage = optuna_study._storage
    if run.status == PRUNED:
        steps = storage.get_trial(trial_id).intermediate_values
        last = [steps[max(steps)]] if steps and math.isfinite(steps[max(steps)]) else None
        _finish(storage, trial_id, TrialState.PRUNED, last)
        return
    value = (run.result or {}).get("objective")
    if run.status == COMPLETED and isinstance(value, int | float) and math.isfinite(value):
        _finish(storage, trial_id, TrialState.COMPLETE, [float(value)])
        return
    storage.set_trial_user_attr(trial_id, NOTE, _failure(run))
    _finish(storage, trial_id, TrialState.FAIL)


def _failure(run: TrialRunRecord) -> str:
    """Why the trial of ``run``, which ended without a value of its objective, failed."""
    if run.status == COMPLETED:
        return "the run ended without logging a finite value of the objective"
    if run.status == CANCELLED:
        return "cancelled"
    return f"the run ended {run.status}: {run.error or 'no error recorded'}"


def _finish(
    storage: optuna.storages.BaseStorage,
    trial_id: int,
    state: TrialState,
    values: list[float] | None = None,
) -> None:
    """End a trial in Optuna's storage; one that already ended is left as it is. Not
    ``Study.tell``: it read the trial twice more, and its sampler's ``after_trial`` has
    nothing to do outside ``optimize`` (a grid's raised there once its last trial ended,
    leaving the study to the reaper's sweep)."""
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_state_values(trial_id, state, values)


def _choose(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        message = f"must be {', '.join(allowed[:-1])} or {allowed[-1]}, got {value!r}"
        raise ConfigError("study", [((what,), message)], field="body")
