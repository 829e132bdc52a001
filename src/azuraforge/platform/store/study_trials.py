"""A study's trials read in bulk: the columns its pages show, from Optuna's tables in the
store's database and the platform's trial runs beside them.

Optuna's API loads each trial whole (params, values, intermediate values, attributes) as ORM
objects: the first read of 10,000 trials took 9.5 s on SQLite. These reads take only the
columns asked for, one statement per table. Optuna's tables and the store's are never joined
in a read: on PostgreSQL, with statistics not yet gathered after many trials were written,
such a join was planned as a nested loop and took 9 s for a page of 50; each side read by its
index and merged here takes milliseconds, whatever the planner knows. The one statement that
spans both (:meth:`StudyTrialStore.report_steps`) reads one run's points of one metric and
Optuna's steps of one trial, each by its index.

Optuna's columns are copied below (as a migration copies the tables it needs): its schema
has kept them since Optuna 3.0 (``optuna/storages/_rdb/models.py``).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Enum,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    case,
    cast,
    func,
    insert,
    literal,
    select,
)

from azuraforge.platform.store.base import StoreBase
from azuraforge.platform.store.models import Experiment, MetricPoint
from azuraforge.platform.store.records import (
    OPTUNA_FINISHED,
    OpenTrials,
    StudyRecord,
    TrialRow,
    TrialRunRecord,
)
from azuraforge.platform.store.states import FINISHED_STATES, TRIAL

NOTE = "azuraforge_note"
"""The Optuna user attribute saying why a trial failed (its run's error, or cancelled)."""

_NO_RUN: tuple[Any, ...] = (None, None, None, None)
"""The run's id, status and times of a trial without one."""
_OPTUNA_FINISHED = [state.upper() for state in sorted(OPTUNA_FINISHED)]
"""Optuna's states of a trial that ended, as its table holds them."""
_optuna = MetaData()
_studies = Table(
    "studies", _optuna, Column("study_id", Integer), Column("study_name", String(512))
)
_trials = Table(
    "trials",
    _optuna,
    Column("trial_id", Integer),
    Column("number", Integer),
    Column("study_id", Integer),
    Column("state", String(20)),
)
_values = Table(
    "trial_values",
    _optuna,
    Column("trial_id", Integer),
    Column("objective", Integer),
    Column("value", Float),
    Column("value_type", String(20)),
)
_params = Table(
    "trial_params",
    _optuna,
    Column("trial_id", Integer),
    Column("param_name", String(512)),
    Column("param_value", Float),
)
_steps = Table(
    "trial_intermediate_values",
    _optuna,
    Column("trial_id", Integer),
    Column("step", Integer),
    Column("intermediate_value", Float),
    Column("intermediate_value_type", String(20)),
)
_STEP_TYPE = Enum("FINITE", "INF_POS", "INF_NEG", "NAN", name="trialintermediatevaluetype")
"""Optuna's type of an intermediate value (an enumeration type of its own on PostgreSQL)."""
_attributes = Table(
    "trial_user_attributes",
    _optuna,
    Column("trial_id", Integer),
    Column("key", String(512)),
    Column("value_json", Text),
)


def _decoder(entry: Mapping[str, Any]) -> Callable[[float], Any]:
    """:func:`external_value` of one entry of the space, as a function of the stored value."""
    if entry["type"] == "categorical":
        choices = list(entry["choices"])
        return lambda stored: choices[int(stored)]
    return int if entry["type"] == "int" else float


def external_value(entry: Mapping[str, Any], stored: float) -> Any:
    """A param's value as the trial drew it, from Optuna's stored form (a categorical's
    stored value is the index of its choice) and its entry of the parsed space.

    >>> external_value({"type": "categorical", "choices": ["adam", "sgd"]}, 1.0)
    'sgd'
    >>> external_value({"type": "int", "low": 1, "high": 4}, 3.0)
    3
    """
    return _decoder(entry)(stored)


class StudyTrialStore(StoreBase):
    """A study's trials as its pages list them. Every method reads one consistent snapshot
    and returns plain values; a study whose Optuna side is gone has no trials."""

    def list_trial_rows(self, study: StudyRecord) -> list[TrialRow]:
        """Every trial of ``study`` by number: Optuna's state and objective value, and its
        run's id, status and times (a trial has at most one run: the study never queues a
        second)."""
        with self._read() as connection:
            optuna_id = _optuna_id(connection, study)
            if optuna_id is None:
                return []
            trials = connection.execute(
                select(_trials.c.trial_id, _trials.c.number, _trials.c.state)
                .where(_trials.c.study_id == optuna_id)
                .order_by(_trials.c.number)
            ).all()
            values = connection.execute(
                select(_values.c.trial_id, _values.c.value, _values.c.value_type).where(
                    _values.c.trial_id.in_(_trial_ids(optuna_id)), _values.c.objective == 0
                )
            ).all()
            runs = connection.execute(
                select(
                    Experiment.trial_number,
                    Experiment.id,
                    Experiment.status,
                    Experiment.started_at,
                    Experiment.finished_at,
                ).where(Experiment.study_id == study.id, Experiment.kind == TRIAL)
            ).all()
        # Rows unpacked as tuples: reading 10,000 rows' fields by name took 0.2 s.
        found = {trial_id: _finite(value, kind) for trial_id, value, kind in values}
        by_number = {number: (run_id, status, started, finished)
                     for number, run_id, status, started, finished in runs}  # fmt: skip
        return [
            TrialRow(trial_id, number, str(state).lower(), found.get(trial_id),
                     *by_number.get(number, _NO_RUN))
            for trial_id, number, state in trials
        ]  # fmt: skip

    def open_trials(self, study: StudyRecord) -> OpenTrials:
        """How many trials of ``study`` Optuna created, those it has not finished and their
        runs, in one snapshot: a few rows whatever the study's size (Optuna's own API reads
        each unfinished trial whole, and a read of every trial made each advance slower as
        the study grew). The runs are the study's project's only: a job of another project
        naming the study's id is none of its trials."""
        of_study = _trials.join(_studies, _studies.c.study_id == _trials.c.study_id)
        named = _studies.c.study_name == study.optuna_name
        with self._read() as connection:
            created = connection.scalar(select(func.count()).select_from(of_study).where(named))
            trials = connection.execute(
                select(_trials.c.trial_id, _trials.c.number, _trials.c.state)
                .select_from(of_study)
                .where(named, _state().not_in(_OPTUNA_FINISHED))
                .order_by(_trials.c.number)
            ).all()
            numbers = [number for _, number, _ in trials]
            of_open = trial_runs(study.id).where(
                Experiment.trial_number.in_(numbers),
                Experiment.project_id == self.project_id(connection, study.project),
            )
            runs = connection.execute(of_open).all() if numbers else []
        return OpenTrials(
            created=int(created or 0),
            trials=[(trial_id, number, str(state)) for trial_id, number, state in trials],
            runs={row.trial_number: TrialRunRecord(*row) for row in runs},
        )

    def report_steps(self, trial_id: int, run_id: int, objective: str) -> None:
        """Write to Optuna's trial ``trial_id`` the values of ``objective`` that run
        ``run_id`` logged, by step: the first value logged at each step (a step before zero
        as 0, as a trial's process reports it), in one statement, leaving a step Optuna
        has alone. Optuna's ``set_trial_intermediate_value`` takes a transaction a step."""
        step = case((MetricPoint.step < 0, 0), else_=MetricPoint.step)
        firsts = (
            select(func.min(MetricPoint.id))
            .where(MetricPoint.experiment_id == run_id, MetricPoint.key == objective)
            .group_by(step)
        )
        reported = select(_steps.c.step).where(
            _steps.c.trial_id == trial_id, _steps.c.step == step
        )
        finite = literal("FINITE", _STEP_TYPE)  # the store keeps finite values only
        points = select(literal(trial_id), step, MetricPoint.value, finite).where(
            MetricPoint.id.in_(firsts), ~reported.exists()
        )
        columns = ["trial_id", "step", "intermediate_value", "intermediate_value_type"]
        with self._begin() as connection:
            connection.execute(insert(_steps).from_select(columns, points))

    def list_study_progress(
        self, studies: Sequence[StudyRecord]
    ) -> dict[int, tuple[int, float | None]]:
        """How many trials of each study ended (:attr:`TrialRow.ended`) and the study's best
        value so far (``None`` before its first completed trial), by study id; a few
        statements for all ``studies`` (a listing's page), whatever their trials.

        A trial Optuna finished ended; of the others (running or waiting: a few per study,
        at most its parallelism), those whose run ended did too.
        """
        if not studies:
            return {}
        with self._read() as connection:
            ours = _by_optuna_id(connection, studies)
            if not ours:
                return {study.id: (0, None) for study in studies}
            finished = connection.execute(_counts(list(ours), _OPTUNA_FINISHED)).all()
            unfinished = connection.execute(_open_trials(list(ours))).all()
            runs = _runs_ended(connection, {(ours[o].id, number) for o, number in unfinished})
            extremes = connection.execute(_extremes(list(ours))).all()
        ended = Counter({ours[optuna_id].id: int(count) for optuna_id, count in finished})
        ended.update(study_id for study_id, _ in runs)
        best = _best_values(ours, extremes)
        return {study.id: (ended[study.id], best.get(study.id)) for study in studies}

    def list_trial_params(
        self, study: StudyRecord, trial_ids: Collection[int] | None = None
    ) -> dict[int, dict[str, Any]]:
        """Each trial's params by trial id (``trial_ids``', or every trial's), as drawn."""
        query = select(_params.c.trial_id, _params.c.param_name, _params.c.param_value)
        params: dict[int, dict[str, Any]] = {}
        for trial_id, name, stored in self._of_trials(study, query, trial_ids):
            entry = study.space.get(name)
            if entry is not None:  # the space is fixed: every param has its entry
                params.setdefault(trial_id, {})[name] = external_value(entry, stored)
        return params

    def list_param_columns(
        self, study: StudyRecord, trial_ids: Sequence[int]
    ) -> dict[str, list[Any]]:
        """Each setting of the space: its value for each trial of ``trial_ids``, in that
        order (``None`` where a trial has not drawn it). Reads all the study's params at
        once, decoded column by column (the charts of 10,000 trials read 50,000 of them)."""
        at = {trial_id: index for index, trial_id in enumerate(trial_ids)}
        columns: dict[str, list[Any]] = {name: [None] * len(at) for name in study.space}
        decode = {name: _decoder(entry) for name, entry in study.space.items()}
        query = select(_params.c.trial_id, _params.c.param_name, _params.c.param_value)
        for trial_id, name, stored in self._of_trials(study, query, None):
            index = at.get(trial_id)
            if index is not None and name in columns:
                columns[name][index] = decode[name](stored)
        return columns

    def list_trial_steps(
        self, study: StudyRecord, trial_ids: Collection[int] | None = None
    ) -> dict[int, dict[int, float]]:
        """Each trial's finite intermediate values of the objective by step, by trial id."""
        columns = (_steps.c.trial_id, _steps.c.step)
        query = select(
            *columns, _steps.c.intermediate_value, _steps.c.intermediate_value_type
        ).order_by(*columns)
        steps: dict[int, dict[int, float]] = {}
        for trial_id, step, value, kind in self._of_trials(study, query, trial_ids):
            if _finite(value, kind) is not None:
                steps.setdefault(trial_id, {})[step] = value
        return steps

    def list_trial_notes(
        self, study: StudyRecord, trial_ids: Collection[int] | None = None
    ) -> dict[int, str]:
        """Why each failed trial failed (its note), by trial id."""
        query = select(_attributes.c.trial_id, _attributes.c.value_json).where(
            _attributes.c.key == NOTE
        )
        rows = self._of_trials(study, query, trial_ids)
        return {trial_id: str(json.loads(text)) for trial_id, text in rows}

    def _of_trials(
        self, study: StudyRecord, query: Select[Any], trial_ids: Collection[int] | None
    ) -> Sequence[Any]:
        """The rows of ``query`` (on a table of Optuna's keyed by ``trial_id``) of the trials
        ``trial_ids``, or of all the study's."""
        column = query.selected_columns[0]
        if trial_ids is not None:
            if not trial_ids:
                return []
            with self._read() as connection:
                return connection.execute(query.where(column.in_(list(trial_ids)))).all()
        with self._read() as connection:
            optuna_id = _optuna_id(connection, study)
            if optuna_id is None:
                return []
            return connection.execute(query.where(column.in_(_trial_ids(optuna_id)))).all()


def _by_optuna_id(
    connection: Connection, studies: Sequence[StudyRecord]
) -> dict[int, StudyRecord]:
    """The ``studies`` Optuna's tables hold, by their id there."""
    by_name = {study.optuna_name: study for study in studies}
    found = connection.execute(
        select(_studies.c.study_id, _studies.c.study_name).where(
            _studies.c.study_name.in_(list(by_name))
        )
    ).all()
    return {optuna_id: by_name[name] for optuna_id, name in found}


def _best_values(
    ours: Mapping[int, StudyRecord], extremes: Sequence[Any]
) -> dict[int, float | None]:
    """Each study's best value (its lowest or highest, by its direction) by study id, of
    ``extremes``: ``(optuna id, lowest, highest)`` of each of ``ours`` (by Optuna id)."""
    return {
        ours[optuna_id].id: low if ours[optuna_id].direction == "minimize" else high
        for optuna_id, low, high in extremes
    }


def trial_runs(study_id: int) -> Select[Any]:
    """The SELECT of the study's trial runs as :class:`TrialRunRecord` takes its fields, by
    trial number (a re-queued trial keeps its run)."""
    columns = (Experiment.id, Experiment.trial_number, Experiment.status, Experiment.result,
               Experiment.error)  # fmt: skip
    return (
        select(*columns)
        .where(Experiment.study_id == study_id, Experiment.kind == TRIAL)
        .order_by(Experiment.trial_number, Experiment.id)
    )


def _optuna_id(connection: Connection, study: StudyRecord) -> int | None:
    found = connection.scalar(
        select(_studies.c.study_id).where(_studies.c.study_name == study.optuna_name)
    )
    return None if found is None else int(found)


def _trial_ids(optuna_id: int) -> Select[Any]:
    return select(_trials.c.trial_id).where(_trials.c.study_id == optuna_id)


def _counts(optuna_ids: list[int], states: Collection[str]) -> Select[Any]:
    """How many trials of each study are in one of Optuna's ``states``."""
    return (
        select(_trials.c.study_id, func.count())
        .where(_trials.c.study_id.in_(optuna_ids), _state().in_(list(states)))
        .group_by(_trials.c.study_id)
    )


def _open_trials(optuna_ids: list[int]) -> Select[Any]:
    """The study and number of each trial Optuna has not finished."""
    return select(_trials.c.study_id, _trials.c.number).where(
        _trials.c.study_id.in_(optuna_ids), _state().not_in(list(_OPTUNA_FINISHED))
    )


def _runs_ended(connection: Connection, trials: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of ``trials`` (study id, trial number), those whose run ended."""
    if not trials:
        return set()
    numbers = sorted({number for _, number in trials})
    rows: Sequence[Any] = connection.execute(
        select(Experiment.study_id, Experiment.trial_number).where(
            Experiment.study_id.in_(sorted({study_id for study_id, _ in trials})),
            Experiment.kind == TRIAL,
            Experiment.status.in_(FINISHED_STATES),
            Experiment.trial_number.in_(numbers),
        )
    ).all()
    return {(study_id, number) for study_id, number in rows if (study_id, number) in trials}


def _state() -> Any:
    # PostgreSQL keeps the state as an enum of Optuna's: compared as text.
    return cast(_trials.c.state, String)


def _extremes(optuna_ids: list[int]) -> Select[Any]:
    """The lowest and highest objective value of each study's completed trials (Optuna keeps
    an infinite value as NULL)."""
    joined = _trials.join(_values, _values.c.trial_id == _trials.c.trial_id)
    return (
        select(_trials.c.study_id, func.min(_values.c.value), func.max(_values.c.value))
        .select_from(joined)
        .where(
            _trials.c.study_id.in_(optuna_ids),
            _state() == "COMPLETE",
            _values.c.objective == 0,
            _values.c.value.is_not(None),
        )
        .group_by(_trials.c.study_id)
    )


def _finite(value: float | None, kind: str) -> float | None:
    # Optuna keeps infinities as a type with no value; JSON has neither them nor NaN.
    return value if kind == "FINITE" and value is not None and math.isfinite(value) else None
