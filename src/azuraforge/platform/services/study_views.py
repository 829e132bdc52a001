"""What a study's pages show, fast at 10,000 trials: a summary (counts per state, best
trial), a page of trials (filtered, sorted), every trial as a point of the charts (number,
status, value, params), parameter importances, and the whole report ``GET /studies/{id}``
gives.

Each reads the store's bulk queries (:class:`~azuraforge.platform.store.Store`'s
``list_trial_rows``...), never Optuna's trial objects. Importances are computed on at most
:data:`IMPORTANCE_SAMPLE` completed trials (a seeded random sample above that), once per
number of completed trials: a study's page asks for them every few seconds while it runs.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from azuraforge.platform.services.study_space import distributions
from azuraforge.platform.store import QueryError, StudyRecord, TrialRow
from azuraforge.platform.store.experiment_query import check_page
from azuraforge.platform.store.interfaces import Studies
from azuraforge.platform.store.states import ALL_STATES

TrialSort = Literal["number", "value", "status"]
"""What a page of trials sorts by."""
TRIAL_SORTS: tuple[str, ...] = get_args(TrialSort)
OPTUNA_STATES = frozenset({"running", "complete", "pruned", "fail", "waiting"})
"""Optuna's states in lower case: the status of a trial that has no run."""
TRIAL_STATUSES = ALL_STATES | OPTUNA_STATES
IMPORTANCE_SAMPLE = 1000
"""Most completed trials importances are computed on (Optuna's evaluator takes about 0.1 s
on 1,000 trials, loading them in memory as long again; 10,000 took 1.6 s)."""
_CACHED_IMPORTANCES = 64


class TrialQueryError(QueryError):
    """A page of trials that cannot be read as asked; ``field`` names the parameter at fault
    (``status`` or ``sort``)."""


@dataclass(frozen=True)
class TrialQuery:
    """A page of a study's trials: which statuses (all when empty), sorted by what (a
    :data:`TRIAL_SORTS`; trials without a value come last either way), which page."""

    statuses: Sequence[str] = ()
    sort: str = "number"
    descending: bool = False
    offset: int = 0
    limit: int = 50

    def checked(self) -> TrialQuery:
        """Raise :class:`TrialQueryError` naming a bad status or sort, or
        :class:`InvalidParameterError` for a page out of bounds."""
        unknown = sorted(set(self.statuses) - TRIAL_STATUSES)
        if unknown:
            raise TrialQueryError(
                "status",
                f"status {unknown[0]!r} is not a trial status; statuses: "
                f"{', '.join(sorted(TRIAL_STATUSES))}",
            )
        if self.sort not in TRIAL_SORTS:
            raise TrialQueryError(
                "sort", f"cannot sort trials by {self.sort!r}; sort by {', '.join(TRIAL_SORTS)}"
            )
        check_page(self.offset, self.limit)
        return self


@dataclass(frozen=True)
class StudySummary:
    """A study without its trials: how many trials are in each status and how many ended
    (:attr:`~azuraforge.platform.store.TrialRow.ended`), and its best."""

    study: StudyRecord
    counts: dict[str, int]
    trials_finished: int
    best: dict[str, Any] | None


@dataclass(frozen=True)
class TrialsPage:
    """A page of trials (dicts as :class:`StudyReport` describes them) and how many match."""

    trials: list[dict[str, Any]]
    total: int


@dataclass(frozen=True)
class StudyPoints:
    """Every trial by number, as columns: what the history and parallel-coordinates charts
    draw. ``params`` maps each setting of the space to one value per trial (``None`` where a
    trial has not drawn it)."""

    number: list[int]
    run_id: list[int | None]
    status: list[str]
    value: list[float | None]
    params: dict[str, list[Any]]


@dataclass(frozen=True)
class Importances:
    """Optuna's parameter importances (``None`` with ``note`` saying why), and how many
    completed trials there were and how many they were computed on."""

    importances: dict[str, float] | None
    note: str | None
    completed: int
    sampled: int


@dataclass(frozen=True)
class StudyReport:
    """A study as ``GET /studies/{id}`` shows it. ``trials`` are dicts with ``number``,
    ``run_id``, ``status`` (the run's: queued, running, completed, pruned, failed,
    cancelled), ``optuna_state``, ``params``, ``value``, ``intermediate_values``, ``note``,
    ``started_at`` and ``finished_at`` (the run's); ``history`` has each completed trial's
    ``value`` and ``best`` so far."""

    study: StudyRecord
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    history: list[dict[str, Any]]
    importances: dict[str, float] | None
    importances_note: str | None


class StudyViews:
    """The views of a store's studies. Safe from several threads; keeps the importances it
    computed (the last :data:`_CACHED_IMPORTANCES`).

    Parameters
    ----------
    store
        The store the studies are in.
    importance_sample
        Most completed trials importances are computed on.
    """

    def __init__(self, store: Studies, *, importance_sample: int = IMPORTANCE_SAMPLE) -> None:
        self.store, self.importance_sample = store, importance_sample
        self._importances: OrderedDict[tuple[int, int], Importances] = OrderedDict()
        self._lock = threading.Lock()

    def summary(self, study_id: int, *, project: str | None = None) -> StudySummary:
        """The study, its trials counted by status, how many ended, and its best trial."""
        study = self.store.get_study(study_id, project=project)
        rows = self.store.list_trial_rows(study)
        counts = dict(sorted(Counter(row.status for row in rows).items()))
        ended = sum(row.ended for row in rows)
        return StudySummary(study, counts, ended, self._best(study, rows))

    def trials(
        self, study_id: int, query: TrialQuery, *, project: str | None = None
    ) -> TrialsPage:
        """A page of the study's trials, with their params, intermediate values and notes.

        Raises
        ------
        InvalidParameterError
            Naming a bad status, sort or page.
        """
        query.checked()
        study = self.store.get_study(study_id, project=project)
        rows = self.store.list_trial_rows(study)
        if query.statuses:
            rows = [row for row in rows if row.status in query.statuses]
        ordered = _sorted(rows, query.sort, query.descending)
        page = ordered[query.offset : query.offset + query.limit]
        return TrialsPage(trials=self._views(study, page), total=len(rows))

    def points(self, study_id: int, *, project: str | None = None) -> StudyPoints:
        """Every trial of the study as a point: number, run, status, value and params."""
        study = self.store.get_study(study_id, project=project)
        rows = self.store.list_trial_rows(study)
        return StudyPoints(
            number=[row.number for row in rows],
            run_id=[row.run_id for row in rows],
            status=[row.status for row in rows],
            value=[row.value for row in rows],
            params=self.store.list_param_columns(study, [row.trial_id for row in rows]),
        )

    def importances(self, study_id: int, *, project: str | None = None) -> Importances:
        """Optuna's parameter importances over the completed trials (a seeded random
        sample of ``importance_sample`` when there are more), or why there are none."""
        study = self.store.get_study(study_id, project=project)
        return self._importances_of(study, self.store.list_trial_rows(study))

    def report(self, study_id: int, *, project: str | None = None) -> StudyReport:
        """The study with all its trials, best trial, optimisation history and importances."""
        study = self.store.get_study(study_id, project=project)
        rows = self.store.list_trial_rows(study)
        found = self._importances_of(study, rows)
        return StudyReport(
            study=study,
            trials=self._views(study, rows, every=True),
            best=self._best(study, rows),
            history=_history(study, rows),
            importances=found.importances,
            importances_note=found.note if found.importances is None else None,
        )

    def _views(
        self, study: StudyRecord, rows: list[TrialRow], *, every: bool = False
    ) -> list[dict[str, Any]]:
        """The trials as dicts (``every``: all the study's, read without naming them)."""
        ids = None if every else [row.trial_id for row in rows]
        params = self.store.list_trial_params(study, ids)
        steps = self.store.list_trial_steps(study, ids)
        notes = self.store.list_trial_notes(study, ids)
        return [
            _view(row, params.get(row.trial_id, {}), steps.get(row.trial_id, {}),
                  notes.get(row.trial_id))
            for row in rows
        ]  # fmt: skip

    def _best(self, study: StudyRecord, rows: list[TrialRow]) -> dict[str, Any] | None:
        complete = _complete(rows)
        if not complete:
            return None
        sign = 1.0 if study.direction == "minimize" else -1.0
        best = min(complete, key=lambda row: (sign * float(row.value or 0.0), row.number))
        params = self.store.list_trial_params(study, [best.trial_id])
        return {
            "number": best.number,
            "run_id": best.run_id,
            "params": params.get(best.trial_id, {}),
            "value": best.value,
        }

    def _importances_of(self, study: StudyRecord, rows: list[TrialRow]) -> Importances:
        complete = _complete(rows)
        key = (study.id, len(complete))
        with self._lock:
            if key in self._importances:
                self._importances.move_to_end(key)
                return self._importances[key]
        found = self._compute(study, complete)
        with self._lock:
            self._importances[key] = found
            while len(self._importances) > _CACHED_IMPORTANCES:
                self._importances.popitem(last=False)
        return found

    def _compute(self, study: StudyRecord, complete: list[TrialRow]) -> Importances:
        count = len(complete)
        if count < 2:
            return Importances(
                None, f"needs at least 2 completed trials; {count} so far", count, 0
            )
        sample = complete
        if count > self.importance_sample:
            sample = sorted(random.Random(count).sample(complete, self.importance_sample),
                            key=lambda row: row.number)  # fmt: skip
        params = self.store.list_trial_params(study, [row.trial_id for row in sample])
        importances, note = _evaluate(study, sample, params)
        return Importances(importances, note, count, len(sample))


def _complete(rows: list[TrialRow]) -> list[TrialRow]:
    return [row for row in rows if row.state == "complete" and row.value is not None]


def _sorted(rows: list[TrialRow], sort: str, descending: bool) -> list[TrialRow]:
    """``rows`` (by number) sorted stably: ties keep the order of their numbers."""
    if sort == "number":
        return rows[::-1] if descending else list(rows)
    if sort == "status":
        return sorted(rows, key=lambda row: row.status, reverse=descending)
    valued = [row for row in rows if row.value is not None]
    ordered = sorted(valued, key=lambda row: float(row.value or 0.0), reverse=descending)
    return ordered + [row for row in rows if row.value is None]


def _view(
    row: TrialRow, params: dict[str, Any], steps: dict[int, float], note: str | None
) -> dict[str, Any]:
    return {
        "number": row.number,
        "run_id": row.run_id,
        "status": row.status,
        "optuna_state": row.state,
        "params": params,
        "value": row.value,
        "intermediate_values": steps,
        "note": note,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
    }


def _history(study: StudyRecord, rows: list[TrialRow]) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = []
    best: float | None = None
    pick = min if study.direction == "minimize" else max
    for row in _complete(rows):
        value = float(row.value or 0.0)
        best = value if best is None else pick(best, value)
        history.append({"number": row.number, "value": value, "best": best})
    return history


def _evaluate(
    study: StudyRecord, sample: list[TrialRow], params: dict[int, dict[str, Any]]
) -> tuple[dict[str, float] | None, str | None]:
    """Optuna's importances of the params that vary among ``sample``, in an in-memory study
    of those trials."""
    drawn = [params.get(row.trial_id, {}) for row in sample]
    varying = [name for name in study.space if len({repr(p.get(name)) for p in drawn}) > 1]
    if not varying:
        return None, "no parameter varies among the completed trials"
    space = distributions(study.space)
    memory = optuna.create_study(direction=StudyDirection[study.direction.upper()])
    memory.add_trials([
        optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=row.value, params=values,
            distributions={name: space[name] for name in values},
        )
        for row, values in zip(sample, drawn, strict=True)
    ])  # fmt: skip
    try:
        found = optuna.importance.get_param_importances(memory, params=varying)
    except (RuntimeError, ValueError) as e:
        return None, f"Optuna could not compute them: {e}"
    return {name: float(value) for name, value in found.items()}, None
