"""Comparing runs: aligned metric curves, a config diff and parallel-coordinates data.

The runs are chosen by id, by batch (a grid's runs) or by study (its trial runs); every run
is included whatever its status (failed, cancelled, lost and pruned runs are marked by their
status), and a value a run lacks is ``None``, never NaN.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from azuraforge.errors import NotFoundError
from azuraforge.platform.store import (
    DEFAULT_PROJECT,
    ExperimentQuery,
    ExperimentRecord,
    QueryError,
)
from azuraforge.platform.store.base import json_safe
from azuraforge.platform.store.interfaces import Runs, RunsAndCompare

MAX_RUNS = 100
"""The most runs one comparison holds."""
DEFAULT_POINTS = 200
MAX_POINTS = 10_000
MAX_KEYS = 50
"""The most metric names a request may list (``metrics``, ``keys``)."""
RUN_ID = "[1-9][0-9]{0,9}"
"""A run id in a query (a larger one than the store holds names no run: a 404)."""
RUN_IDS = rf"{RUN_ID}(?:,{RUN_ID}){{0,{MAX_RUNS - 1}}}"
"""Run ids in one query value: comma-separated, no spaces, at most :data:`MAX_RUNS`."""
_RUN_ID = re.compile(RUN_ID)


class SelectionError(QueryError):
    """A comparison that cannot be made as asked; ``field`` names the request parameter at
    fault (``experiments``, ``batch``, ``study``, ``metrics``, ``keys``)."""


@dataclass(frozen=True)
class Selection:
    """Which runs to compare: exactly one of ids, a batch id or a study id."""

    experiments: Sequence[int] = ()
    batch: str | None = None
    study: int | None = None


@dataclass(frozen=True)
class RunCurve:
    """One run's points of one metric after downsampling; ``total`` counts them before."""

    experiment_id: int
    steps: list[int]
    values: list[float]
    total: int


@dataclass(frozen=True)
class MetricCurves:
    """One metric's curve for each run that logged it, all by step."""

    key: str
    runs: list[RunCurve]


@dataclass(frozen=True)
class ConfigDifference:
    """A config key whose value is not the same in every run: its value in each run (in the
    order of the runs; ``None`` where missing) and the runs that lack it."""

    key: str
    values: list[Any]
    missing: list[int]


@dataclass(frozen=True)
class Dimension:
    """An axis of the parallel-coordinates chart: a varying parameter (``source`` ``param``)
    or a metric's last value (``metric``), one value per run (``None`` where absent);
    ``numeric`` when every present value is a number, else the axis is categorical."""

    key: str
    source: str
    numeric: bool
    values: list[Any]


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` returns; ``metrics`` and ``scores`` are the metrics and the
    scores of the ``dimensions``."""

    runs: list[ExperimentRecord]
    curves: list[MetricCurves]
    config_diff: list[ConfigDifference]
    dimensions: list[Dimension]
    metrics: list[str]
    points: int
    scores: list[str]


def parse_ids(values: Iterable[str]) -> list[int]:
    """Run ids from query values, each one id or several comma-separated; duplicates
    dropped, order kept.

    >>> parse_ids(["3,1", "2", "3"])
    [3, 1, 2]
    >>> parse_ids(["1,x"])
    Traceback (most recent call last):
    ...
    azuraforge.platform.services.compare.SelectionError: 'x' is not a run id (a whole number ...
    """
    ids: list[int] = []
    for value in values:
        parts = value.split(",")
        for part in parts:
            if not _RUN_ID.fullmatch(part):
                raise SelectionError(
                    "experiments",
                    f"{part[:40]!r} is not a run id (a whole number from 1, at most 10 digits; "
                    "ids comma-separated, no spaces)",
                )
        if len(parts) > MAX_RUNS:
            _too_many("experiments", len(parts))
        ids.extend(map(int, parts))
    return list(dict.fromkeys(ids))


def select_runs(
    store: RunsAndCompare, selection: Selection, *, project: str = DEFAULT_PROJECT
) -> list[ExperimentRecord]:
    """The runs ``selection`` names: in the order given, by id in a batch, by trial number in
    a study.

    Raises
    ------
    SelectionError
        If not exactly one of ids, batch and study is given, or more than :data:`MAX_RUNS`
        runs are chosen.
    NotFoundError
        Naming the ids that are not runs of ``project``, or the batch or study.
    """
    field = _selected_by(selection)
    if selection.experiments:
        if len(selection.experiments) > MAX_RUNS:
            _too_many(field, len(selection.experiments))
        return store.get_experiments(selection.experiments, project=project)
    if selection.batch:
        runs = _batch_runs(store, selection.batch, project=project)
    else:
        runs = store.list_study_runs(selection.study or 0, project=project, limit=MAX_RUNS + 1)
    if len(runs) > MAX_RUNS:
        _too_many(field, len(runs), at_least=True)
    return runs


def _selected_by(selection: Selection) -> str:
    """The one field that names ``selection``'s runs (experiments, batch or study)."""
    given = [
        name
        for name, value in (
            ("experiments", selection.experiments),
            ("batch", selection.batch),
            ("study", selection.study),
        )
        if value
    ]
    if len(given) != 1:
        shown = f"got {' and '.join(given)}" if given else "got none"
        raise SelectionError(
            given[-1] if given else "experiments",
            f"name the runs to compare with exactly one of experiments=1,2,3, batch=<batch "
            f"id> or study=<study id>; {shown}",
        )
    return given[0]


def _batch_runs(store: Runs, batch: str, *, project: str) -> list[ExperimentRecord]:
    """The first :data:`MAX_RUNS` runs of ``batch`` and one more, by id (some, or it is not
    found)."""
    query = ExperimentQuery(
        project=project, batch_id=batch, sort="id", descending=False, limit=MAX_RUNS + 1
    )
    runs = store.list_experiments(query).items
    if not runs:
        raise NotFoundError(f"no runs in batch {batch!r} of project {project!r}")
    return runs


def _too_many(field: str, count: int, *, at_least: bool = False) -> None:
    counted = f"at least {count}" if at_least else str(count)
    raise SelectionError(
        field,
        f"{counted} runs chosen; a comparison holds at most {MAX_RUNS}: name fewer runs",
    )


def compare(
    store: RunsAndCompare,
    selection: Selection,
    *,
    points: int = DEFAULT_POINTS,
    metrics: Sequence[str] = (),
    keys: Sequence[str] = (),
    project: str = DEFAULT_PROJECT,
    scores: Sequence[str] = (),
) -> Comparison:
    """Compare the runs ``selection`` names.

    Parameters
    ----------
    points
        The most points kept per run and metric (:func:`downsample_extremes`).
    metrics
        The metrics of the parallel-coordinates chart (their last values); by default those
        every run that logged anything shares (:func:`shared_metrics`).
    keys
        The metrics whose curves are returned; all by default.
    scores
        Scores (numbers of the runs' results, ``metrics.MAE.model``) that are axes of the
        parallel-coordinates chart too, after the metrics; none by default.

    Raises
    ------
    SelectionError
        As :func:`select_runs` does, for ``points`` out of range, for a metric in
        ``metrics`` or ``keys`` that none of the runs logged, or a score in ``scores`` that
        none of them has.
    NotFoundError
        As :func:`select_runs` does.
    """
    _check_sizes(points, metrics=metrics, keys=keys, scores=scores)
    runs = select_runs(store, selection, project=project)
    logged = sorted({key for run in runs for key in run.metrics})
    for field, names in (("metrics", metrics), ("keys", keys)):
        _check_logged(field, names, logged)
    _check_logged("scores", scores, sorted({n for run in runs for n in run.scores}), "score")
    stored = store.get_curves([run.id for run in runs], keys)
    diff = config_diff(runs)
    chosen = list(dict.fromkeys(metrics)) or shared_metrics(runs)
    return Comparison(
        runs=runs,
        curves=aligned_curves(runs, stored, points),
        config_diff=diff,
        dimensions=parallel_dimensions(runs, diff, chosen, list(dict.fromkeys(scores))),
        metrics=chosen,
        points=points,
        scores=list(dict.fromkeys(scores)),
    )


def _check_sizes(
    points: int, *, metrics: Sequence[str], keys: Sequence[str], scores: Sequence[str]
) -> None:
    """Refuse ``points`` out of range and more than :data:`MAX_KEYS` names of a kind."""
    if not 2 <= points <= MAX_POINTS:
        raise SelectionError("points", f"points must be from 2 to {MAX_POINTS}, got {points}")
    for field, names in (("metrics", metrics), ("keys", keys), ("scores", scores)):
        if len(names) > MAX_KEYS:
            raise SelectionError(field, f"{len(names)} metrics named; at most {MAX_KEYS}")


def _check_logged(
    field: str, names: Sequence[str], logged: Sequence[str], what: str = "metric"
) -> None:
    unknown = [name for name in names if name not in logged]
    if unknown:
        verb = "logged" if what == "metric" else "has"
        raise SelectionError(
            field,
            f"none of these runs {verb} {what} {unknown[0][:200]!r}; their {what}s: "
            f"{', '.join(logged) or 'none'}",
        )


def aligned_curves(
    runs: Sequence[ExperimentRecord],
    stored: Mapping[int, Mapping[str, tuple[list[int], list[float]]]],
    points: int,
) -> list[MetricCurves]:
    """Each metric's curves (by key), each run's downsampled to at most ``points``."""
    keys = sorted({key for curves in stored.values() for key in curves})
    return [
        MetricCurves(key, [_run_curve(run.id, stored[run.id][key], points)
                           for run in runs if key in stored[run.id]])
        for key in keys
    ]  # fmt: skip


def _run_curve(experiment_id: int, curve: tuple[list[int], list[float]], most: int) -> RunCurve:
    steps, values = downsample_extremes(*curve, most)
    return RunCurve(experiment_id, steps, values, total=len(curve[0]))


def downsample_extremes(
    steps: Sequence[int], values: Sequence[float], most: int
) -> tuple[list[int], list[float]]:
    """At most ``most`` points of a curve by min/max bucketing: the first and the last
    point, and the lowest and the highest of each of ``(most - 2) // 2`` equal runs of the
    points between, in step order. Every extreme of the curve is kept, unlike taking every
    k-th point, which can miss a spike.

    >>> downsample_extremes(range(10), [0, 5, 1, 9, 2, 3, -4, 4, 6, 7], 6)
    ([0, 2, 3, 6, 8, 9], [0.0, 1.0, 9.0, -4.0, 6.0, 7.0])
    """
    count = len(steps)
    if count <= most:
        return list(steps), [float(v) for v in values]
    array = np.asarray(values, dtype=float)
    buckets = (most - 2) // 2
    kept = {0, count - 1}
    inner = count - 2
    for bucket in range(buckets):
        low, high = 1 + bucket * inner // buckets, 1 + (bucket + 1) * inner // buckets
        if high > low:
            chunk = array[low:high]
            kept.update((low + int(chunk.argmin()), low + int(chunk.argmax())))
    order = sorted(kept)
    return [int(steps[i]) for i in order], [float(array[i]) for i in order]


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as ``{"a.b": value}`` (an empty mapping stays a value).

    >>> flatten_config({"epochs": 3, "model": {"hidden": 32, "extra": {}}})
    {'epochs': 3, 'model.hidden': 32, 'model.extra': {}}
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_diff(runs: Sequence[ExperimentRecord]) -> list[ConfigDifference]:
    """The flattened config keys whose value differs between runs (or that some run lacks),
    by key. Values compare as JSON, so ``1``, ``1.0`` and ``true`` differ."""
    flats = [flatten_config(run.config) for run in runs]
    keys = sorted({key for flat in flats for key in flat})
    found = (_difference(key, runs, flats) for key in keys)
    return [difference for difference in found if difference is not None]


def _difference(
    key: str, runs: Sequence[ExperimentRecord], flats: list[dict[str, Any]]
) -> ConfigDifference | None:
    """How the flattened configs ``flats`` of ``runs`` differ at ``key``, if they do."""
    shown = {_canonical(flat[key]) if key in flat else None for flat in flats}
    if len(shown) <= 1:
        return None
    values = [json_safe(flat.get(key)) for flat in flats]
    missing = [run.id for run, flat in zip(runs, flats, strict=True) if key not in flat]
    return ConfigDifference(key, values, missing)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def shared_metrics(runs: Sequence[ExperimentRecord]) -> list[str]:
    """The metrics logged by every run that logged any: a run that failed or was cancelled
    before its first point does not empty the chart; its values are ``None``."""
    logged = [set(run.metrics) for run in runs if run.metrics]
    return sorted(set.intersection(*logged)) if logged else []


def parallel_dimensions(
    runs: Sequence[ExperimentRecord],
    diff: Sequence[ConfigDifference],
    metrics: Sequence[str],
    scores: Sequence[str] = (),
) -> list[Dimension]:
    """The axes of a parallel-coordinates chart: each varying parameter, then each metric's
    last value, then each score, one value per run."""
    axes = [(d.key, "param", d.values) for d in diff]
    axes += [(m, "metric", [run.metrics.get(m) for run in runs]) for m in metrics]
    axes += [(s, "score", [run.scores.get(s) for run in runs]) for s in scores]
    return [Dimension(key, source, _numeric(values), values) for key, source, values in axes]


def _numeric(values: Iterable[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )
