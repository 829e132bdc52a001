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
import logging
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from azuraforge.apps import get_pipeline
from azuraforge.apps.base import Pipeline
from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.jobs.states import (
    CANCELLED,
    COMPLETED,
    FINISHED_STATES,
    PRUNED,
    TRIAL,
)
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.services.experiments import (
    ConfigError,
    confine_files,
    validate_config,
    withdraw,
)
from azuraforge.platform.store import DEFAULT_PROJECT, Store, StudyRecord, TrialRunRecord
from azuraforge.platform.store.metrics import check_metric_name
from azuraforge.platform.store.studies import (
    ACTIVE,
    STUDY_CANCELLED,
    STUDY_COMPLETED,
    STUDY_FINISHED,
    StudyLock,
)

_log = logging.getLogger(__name__)
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
DIRECTIONS = ("minimize", "maximize")
MAX_GRID = 100_000
"""Most combinations a grid study may enumerate (Optuna's grid sampler lists them all)."""
NOTE = "azuraforge_note"
"""The Optuna user attribute saying why a trial failed (its run's error, or cancelled)."""
_SCALARS = (str, int, float, bool, type(None))


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


def parse_space(
    pipeline: type[Pipeline[Any]], base_config: Mapping[str, Any], space: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The search space in its full form: ``{"lr": {"type": "float", "low": 1e-4,
    "high": 0.1, "log": True, "step": None}, "layers": {"type": "categorical", "choices":
    [1, 2]}}``; a bare list is a categorical's choices. Every key must be a setting of the
    pipeline, and every bound and choice a value the pipeline accepts over ``base_config``.

    >>> from azuraforge.apps import get_pipeline
    >>> parse_space(get_pipeline("weather-forecaster"), {}, {"hidden_size": [8, 16]})
    {'hidden_size': {'type': 'categorical', 'choices': [8, 16]}}

    Raises
    ------
    ConfigError
        Naming each bad entry by its path (``space.lr.low``).
    """
    if not space:
        raise ConfigError(
            "search space", [((), "needs at least one setting to search")], field="space"
        )
    problems: list[tuple[tuple[str | int, ...], str]] = []
    parsed = {}
    for key, entry in space.items():
        found = _entry_problems(pipeline, key, entry)
        if not found:
            parsed[key] = _full(entry)
            found = _value_problems(pipeline, base_config, key, parsed[key])
        problems += found
    if problems:
        raise ConfigError("search space", problems, field="space")
    return parsed


def _entry_problems(
    pipeline: type[Pipeline[Any]], key: str, entry: Any
) -> list[tuple[tuple[str | int, ...], str]]:
    fields = pipeline.Config.model_fields
    if key not in fields:
        return [((key,), f"not a setting of {pipeline.name}; settings: {', '.join(fields)}")]
    if isinstance(entry, list):
        entry = {"type": "categorical", "choices": entry}
    if not isinstance(entry, Mapping):
        shape = "{type: float|int, low, high[, log][, step]}, {type: categorical, choices}"
        return [((key,), f"needs {shape} or a list of choices, got {entry!r}")]
    kind = entry.get("type")
    if kind == "categorical":
        return _categorical_problems(key, entry)
    if kind in ("float", "int"):
        return _range_problems(key, entry, int if kind == "int" else float)
    return [((key, "type"), f"must be float, int or categorical, got {kind!r}")]


def _categorical_problems(key: str, entry: Mapping[str, Any]) -> list[Any]:
    unknown = sorted(set(entry) - {"type", "choices"})
    if unknown:
        return [((key, unknown[0]), "unknown key of a categorical (it takes choices)")]
    choices = entry.get("choices")
    if not isinstance(choices, list) or not choices:
        return [((key, "choices"), "needs a non-empty list of values")]
    bad = [i for i, c in enumerate(choices) if not isinstance(c, _SCALARS)]
    if bad:
        return [((key, "choices", bad[0]), "a choice is a number, text, true/false or null")]
    return []


def _range_problems(key: str, entry: Mapping[str, Any], kind: type) -> list[Any]:
    unknown = sorted(set(entry) - {"type", "low", "high", "log", "step"})
    if unknown:
        return [((key, unknown[0]), "unknown key of a range (it takes low, high, log, step)")]
    problems = []
    for bound in ("low", "high"):
        value = entry.get(bound)
        if not _number(value, kind):
            problems.append(
                (
                    (key, bound),
                    f"needs {'an integer' if kind is int else 'a number'}, got {value!r}",
                )
            )
    step, log = entry.get("step"), entry.get("log", False)
    if step is not None and not (_number(step, kind) and step > 0):
        problems.append(((key, "step"), f"must be a positive {kind.__name__}, got {step!r}"))
    if not isinstance(log, bool):
        problems.append(((key, "log"), f"must be true or false, got {log!r}"))
    if problems:
        return problems
    if entry["low"] > entry["high"]:
        return [((key, "high"), f"must be at least low ({entry['low']}), got {entry['high']}")]
    if log and entry["low"] <= 0:
        return [((key, "low"), f"must be above 0 on a log scale, got {entry['low']}")]
    if log and step is not None:
        return [((key, "step"), "cannot be combined with log: true")]
    return []


def _number(value: Any, kind: type) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) if kind is int else math.isfinite(value)


def _full(entry: Any) -> dict[str, Any]:
    if isinstance(entry, list):
        return {"type": "categorical", "choices": list(entry)}
    if entry["type"] == "categorical":
        return {"type": "categorical", "choices": list(entry["choices"])}
    cast = int if entry["type"] == "int" else float
    step = entry.get("step")
    return {
        "type": entry["type"],
        "low": cast(entry["low"]),
        "high": cast(entry["high"]),
        "log": bool(entry.get("log", False)),
        "step": None if step is None else cast(step),
    }


def _value_problems(
    pipeline: type[Pipeline[Any]],
    base_config: Mapping[str, Any],
    key: str,
    entry: Mapping[str, Any],
) -> list[tuple[tuple[str | int, ...], str]]:
    """Each bound or choice the pipeline refuses, as the config check words it."""
    candidates: list[tuple[tuple[str | int, ...], Any]]
    if entry["type"] == "categorical":
        candidates = [(("choices", i), c) for i, c in enumerate(entry["choices"])]
    else:
        candidates = [(("low",), entry["low"]), (("high",), entry["high"])]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for where, value in candidates:
        try:
            validate_config(pipeline, {**base_config, key: value})
        except ConfigError as e:
            messages = [msg for loc, msg in e.problems if loc[:1] == (key,)] or [str(e)]
            problems.append(((key, *where), messages[0]))
    return problems


def distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, BaseDistribution]:
    """Optuna's distributions of a parsed space (:func:`parse_space`).

    >>> distributions({"lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True,
    ...                       "step": None}})
    {'lr': FloatDistribution(high=0.1, log=True, low=0.001, step=None)}
    """
    made: dict[str, BaseDistribution] = {}
    for key, entry in space.items():
        if entry["type"] == "categorical":
            made[key] = CategoricalDistribution(entry["choices"])
        elif entry["type"] == "int":
            made[key] = IntDistribution(
                entry["low"], entry["high"], log=entry["log"], step=entry["step"] or 1
            )
        else:
            made[key] = FloatDistribution(
                entry["low"], entry["high"], log=entry["log"], step=entry["step"]
            )
    return made


def grid_of(space: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Every value of each setting, for the grid sampler: choices, int ranges, and float
    ranges with a step.

    >>> grid_of({"a": {"type": "int", "low": 1, "high": 5, "log": False, "step": 2},
    ...          "b": {"type": "float", "low": 0.0, "high": 0.2, "log": False, "step": 0.1}})
    {'a': [1, 3, 5], 'b': [0.0, 0.1, 0.2]}

    Raises
    ------
    ConfigError
        For a float range without a step (its values are not finite), or a grid over
        :data:`MAX_GRID` combinations.
    """
    grid: dict[str, list[Any]] = {}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, entry in space.items():
        if entry["type"] == "categorical":
            grid[key] = list(entry["choices"])
        elif entry["type"] == "int":
            grid[key] = list(range(entry["low"], entry["high"] + 1, entry["step"] or 1))
        elif entry["step"] is not None:
            count = math.floor((entry["high"] - entry["low"]) / entry["step"] + 1e-9) + 1
            grid[key] = [round(entry["low"] + i * entry["step"], 12) for i in range(count)]
        else:
            message = (
                "the grid sampler needs finite choices: give this float range a step, or choices"
            )
            problems.append(((key,), message))
    if problems:
        raise ConfigError("search space", problems, field="space")
    size = math.prod(len(values) for values in grid.values())
    if size > MAX_GRID:
        raise ConfigError(
            "search space",
            [((), f"the grid has {size:,} combinations; at most {MAX_GRID:,}")],
            field="space",
        )
    return grid


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """``median`` (Optuna's median stopping rule: after 5 finished trials, stop a trial whose
    value at a step is worse than the median of the others at that step), ``hyperband``, or
    ``none``."""
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


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
        self, store: Store, transport: Transport, *, data_folder: Path | None = None
    ) -> None:
        self.store, self.transport, self.data_folder = store, transport, data_folder
        self._storage: optuna.storages.BaseStorage | None = None
        self._loaded: dict[str, optuna.Study] = {}

    @property
    def storage(self) -> optuna.storages.BaseStorage:
        """Optuna's storage in the store's database, behind Optuna's cache of finished trials
        (kept for the service's life: a cache made per call reads every trial each time)."""
        if self._storage is None:
            self._storage = optuna.storages.get_storage(self.store.optuna_database)
        return self._storage

    def close(self) -> None:
        """Close Optuna's pooled connections."""
        if self._storage is not None:
            self.store.optuna_database.engine.dispose()

    def create(
        self, definition: StudyDefinition, *, project: str = DEFAULT_PROJECT
    ) -> StudyRecord:
        """Validate a study, store it and queue its first trials (up to its parallelism).

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
        base = validate_config(pipeline, definition.base_config)
        if self.data_folder is not None:
            base = confine_files(pipeline, base, self.data_folder)
        space = parse_space(pipeline, base, definition.space)
        n_trials = definition.n_trials
        if definition.sampler == "grid":
            n_trials = min(n_trials, math.prod(len(v) for v in grid_of(space).values()))
        return dict(
            pipeline=definition.pipeline, base_config=base, space=space,
            objective=definition.objective, direction=definition.direction,
            sampler=definition.sampler, pruner=definition.pruner, n_trials=n_trials,
            parallelism=min(definition.parallelism, n_trials), seed=definition.seed,
        )  # fmt: skip

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
            trials = optuna_study.get_trials(deepcopy=False)
            runs = {run.number: run for run in self.store.list_trial_runs(study.id)}
            for trial in trials:
                run = runs.get(trial.number)
                if trial.state == TrialState.RUNNING and run and run.status in FINISHED_STATES:
                    _tell(optuna_study, trial, run)
            self._fill(lock, optuna_study, trials, runs)
        return lock.study

    def _fill(
        self,
        lock: StudyLock,
        optuna_study: optuna.Study,
        trials: list[FrozenTrial],
        runs: dict[int, TrialRunRecord],
    ) -> None:
        """Queue runs up to the parallelism (first for trials Optuna has and the store lacks:
        an advance that died between ask and queue), then record the count, or the end."""
        study = lock.study
        cancelled = study.cancel_requested_at is not None
        active = sum(run.status in ACTIVE for run in runs.values())
        created = len(trials)
        for trial in trials:
            if trial.state == TrialState.RUNNING and trial.number not in runs:
                if cancelled:
                    optuna_study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
                else:
                    self._queue(study, trial.number, trial.params)
                    active += 1
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

    def _queue(self, study: StudyRecord, number: int, params: Mapping[str, Any]) -> None:
        """Store and send the run of trial ``number``; a run that cannot be sent is withdrawn."""
        config = {**study.base_config, **params}
        options: dict[str, Any] = dict(
            project=study.project, requeue_lost=True, kind=TRIAL, study_id=study.id,
            trial_number=number,
        )  # fmt: skip
        try:
            run = self.store.create_experiment(
                study.pipeline, config, name=f"{study.name}-trial-{number}", **options
            )
        except ConflictError:  # a run of that name exists: let the store name this one
            run = self.store.create_experiment(study.pipeline, config, **options)
        try:
            self.transport.submit(run.id)
        except BaseException:
            withdraw(self.store, [run])
            raise

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
        """The study with its trials, best trial, optimisation history and importances."""
        study = self.store.get_study(study_id, project=project)
        optuna_study = self._load(study)
        trials = optuna_study.get_trials(deepcopy=False)
        runs = {run.number: run for run in self.store.list_trial_runs(study.id)}
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        importances, why = _importances(optuna_study, complete)
        return StudyReport(
            study=study,
            trials=[_trial_view(t, runs.get(t.number)) for t in trials],
            best=_best(study, complete, runs),
            history=_history(study, complete),
            importances=importances,
            importances_note=why,
        )


@dataclass(frozen=True)
class StudyReport:
    """A study as ``GET /studies/{id}`` shows it. ``trials`` are dicts with ``number``,
    ``run_id``, ``status`` (the run's: queued, running, completed, pruned, failed,
    cancelled), ``optuna_state``, ``params``, ``value``, ``intermediate_values`` and
    ``note``; ``history`` has each completed trial's ``value`` and ``best`` so far."""

    study: StudyRecord
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    history: list[dict[str, Any]]
    importances: dict[str, float] | None
    importances_note: str | None


def _tell(optuna_study: optuna.Study, trial: FrozenTrial, run: TrialRunRecord) -> None:
    """Tell Optuna how ``run`` ended: its objective's best value, pruned, or failed (why)."""
    if run.status == PRUNED:
        optuna_study.tell(trial.number, state=TrialState.PRUNED, skip_if_finished=True)
        return
    value = (run.result or {}).get("objective")
    if run.status == COMPLETED and isinstance(value, int | float) and math.isfinite(value):
        optuna_study.tell(trial.number, float(value), skip_if_finished=True)
        return
    if run.status == COMPLETED:
        note = "the run ended without logging a finite value of the objective"
    elif run.status == CANCELLED:
        note = "cancelled"
    else:
        note = f"the run ended {run.status}: {run.error or 'no error recorded'}"
    optuna_study._storage.set_trial_user_attr(trial._trial_id, NOTE, note)
    optuna_study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def _trial_view(trial: FrozenTrial, run: TrialRunRecord | None) -> dict[str, Any]:
    return {
        "number": trial.number,
        "run_id": None if run is None else run.id,
        "status": trial.state.name.lower() if run is None else run.status,
        "optuna_state": trial.state.name.lower(),
        "params": dict(trial.params),
        "value": trial.value,
        "intermediate_values": dict(sorted(trial.intermediate_values.items())),
        "note": trial.user_attrs.get(NOTE),
    }


def _best(
    study: StudyRecord, complete: list[FrozenTrial], runs: Mapping[int, TrialRunRecord]
) -> dict[str, Any] | None:
    if not complete:
        return None
    sign = 1.0 if study.direction == "minimize" else -1.0
    best = min(complete, key=lambda t: (sign * float(t.value or 0.0), t.number))  # first of ties
    run = runs.get(best.number)
    return {
        "number": best.number,
        "run_id": None if run is None else run.id,
        "params": dict(best.params),
        "value": best.value,
    }


def _history(study: StudyRecord, complete: list[FrozenTrial]) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = []
    best: float | None = None
    pick = min if study.direction == "minimize" else max
    for trial in sorted(complete, key=lambda t: t.number):
        value = float(trial.value)  # type: ignore[arg-type]
        best = value if best is None else pick(best, value)
        history.append({"number": trial.number, "value": value, "best": best})
    return history


def _importances(
    optuna_study: optuna.Study, complete: list[FrozenTrial]
) -> tuple[dict[str, float] | None, str | None]:
    """Optuna's parameter importances, or ``None`` and why they cannot be computed yet."""
    if len(complete) < 2:
        return None, f"needs at least 2 completed trials; {len(complete)} so far"
    varying = [
        name
        for name in complete[0].params
        if len({repr(t.params.get(name)) for t in complete}) > 1
    ]
    if not varying:
        return None, "no parameter varies among the completed trials"
    try:
        found = optuna.importance.get_param_importances(optuna_study, params=varying)
    except (RuntimeError, ValueError) as e:
        return None, f"Optuna could not compute them: {e}"
    return {name: float(value) for name, value in found.items()}, None


def _choose(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        message = f"must be {', '.join(allowed[:-1])} or {allowed[-1]}, got {value!r}"
        raise ConfigError("study", [((what,), message)], field="body")
