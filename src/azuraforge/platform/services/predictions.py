"""Predictions with registered models: synchronous (rows in, predictions out, from a model
loaded in the API process) and asynchronous (a prediction job run by the workers).

Both read the rows with the version's own pipeline (:meth:`Pipeline.predict_rows`), so a
prediction equals what the pipeline's ``predict`` gives on the same rows loaded directly.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import posixpath
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from azuraforge.apps import History
from azuraforge.apps.base import RowsAnswer, RowsRequest
from azuraforge.errors import (
    AzuraForgeError,
    ConflictError,
    DataFormatError,
    InvalidParameterError,
    NotFoundError,
)
from azuraforge.learn.datasets import read_csv, rows_table
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.jobs.queueing import NewJob, enqueue
from azuraforge.platform.jobs.run_files import run_key
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.services.mlflow_serving import MLFLOW_PIPELINE
from azuraforge.platform.services.registry import ModelRef, resolve
from azuraforge.platform.services.serving import LoadedModel
from azuraforge.platform.store import DEFAULT_PROJECT, ExperimentRecord
from azuraforge.platform.store.interfaces import Runs, RunsAndRegistry
from azuraforge.platform.store.states import PREDICTION

INPUTS_FILE = "inputs.csv"
PREDICTIONS = "predictions"
"""The prefix below which prediction jobs' inputs are kept until the jobs are deleted."""
ROWS_SOURCE = "rows"
"""A job's ``source`` when its inputs were sent as rows (else the data file's name)."""
PREDICTIONS_FILE = "predictions.csv"


class InvalidInputError(InvalidParameterError):
    """Rows, a file or a horizon a model cannot predict from (the API answers 422)."""


PredictAnswer = tuple[dict[str, list[Any]], dict[str, Any] | None]
"""A predict request's answer: its predictions as JSON-ready columns and, when asked and
the pipeline has one, the series they continue (:func:`history_json`)."""


def predict(
    loaded: LoadedModel,
    rows: Sequence[Mapping[str, Any]],
    horizon: int | None,
    max_rows: int,
    history: bool = False,
) -> PredictAnswer:
    """The predictions of ``loaded`` for ``rows`` as JSON-ready columns and, with ``history``,
    the series they continue, read from the same rows (:func:`history_json`; ``None``
    without it, or when the pipeline has none).

    Raises
    ------
    InvalidInputError
        Naming the problem: too many rows, a missing or unexpected column, a value that does
        not read, too few rows for one window, a horizon beyond the model's.
    """
    (answer,) = predict_batch(loaded, [RowsRequest(rows, horizon, history)], max_rows)
    if isinstance(answer, Exception):
        raise answer
    return answer


def predict_batch(
    loaded: LoadedModel, requests: Sequence[RowsRequest], max_rows: int
) -> list[PredictAnswer | Exception]:
    """:func:`predict`'s answer to each request, or the error it raises, in order: the
    requests are predicted together (:meth:`Pipeline.predict_rows_batch`: one forward pass
    for the built-in forecasters), a bad one failing alone."""
    answers: list[PredictAnswer | Exception | None] = [
        _too_many(len(request.rows), max_rows) for request in requests
    ]
    asked = [i for i, refused in enumerate(answers) if refused is None]
    found = loaded.pipeline.predict_rows_batch(loaded.artifact, [requests[i] for i in asked])
    for i, answer in zip(asked, found, strict=True):
        answers[i] = _answer(answer)
    return [answer for answer in answers if answer is not None]


def _too_many(rows: int, max_rows: int) -> InvalidInputError | None:
    if rows <= max_rows:
        return None
    return InvalidInputError(
        f"{rows:,} rows; a predict request takes at most {max_rows:,} "
        "(max_predict_rows): send fewer, or submit an asynchronous prediction job "
        "(POST /models/{ref}/predictions)"
    )


def _answer(answer: RowsAnswer | Exception) -> PredictAnswer | Exception:
    """A pipeline's answer as JSON-ready columns; its error about the input as an
    :class:`InvalidInputError` (a 422)."""
    if isinstance(answer, DataFormatError | InvalidParameterError):
        return InvalidInputError(str(answer), public=answer.public)
    if isinstance(answer, Exception):
        return answer
    columns, series = answer
    return json_columns(columns), None if series is None else history_json(series)


def history_json(history: History) -> dict[str, Any]:
    """A series as JSON: the target's name, its times as ISO text, its values (missing ones
    ``None``).

    >>> history_json(History("load", np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]"),
    ...                       np.array([1.5, np.nan])))
    {'target': 'load', 'time': ['2024-01-01', '2024-01-02'], 'value': [1.5, None]}
    """
    return {
        "target": history.name,
        **json_columns({"time": history.times, "value": history.values}),
    }


def json_columns(columns: Mapping[str, np.ndarray]) -> dict[str, list[Any]]:
    """Columns as JSON lists: times as ISO text, NaN and infinities as ``None``.

    >>> json_columns({"t": np.array(["2024-01-01T05"], dtype="datetime64[h]"),
    ...               "y": np.array([1.5, np.nan])})
    {'t': ['2024-01-01T05'], 'y': [1.5, None]}
    """
    shown: dict[str, list[Any]] = {}
    for name, values in columns.items():
        array = np.asarray(values)
        if array.dtype.kind == "M":
            shown[name] = np.datetime_as_string(array).tolist()
        elif array.dtype.kind == "f" and not np.isfinite(array).all():
            shown[name] = [v if math.isfinite(v) else None for v in array.tolist()]
        else:
            shown[name] = array.tolist()
    return shown


def submit_prediction(
    store: RunsAndRegistry,
    transport: Transport,
    blobs: BlobStore,
    ref: ModelRef,
    *,
    data_folder: DataFolder,
    rows: Sequence[Mapping[str, Any]] | None = None,
    inputs: str | None = None,
    horizon: int | None = None,
    project: str = DEFAULT_PROJECT,
    submitter: str | None = None,
) -> ExperimentRecord:
    """Queue a prediction job for the version ``ref`` names now, on ``rows`` or on the file
    ``inputs`` of ``data_folder`` (the project's), asked for by ``submitter``. The inputs are
    written to the blob store first (``predictions/<12 hex digits>/inputs.csv``, the key its
    config names: the job has no id yet), so its worker, on any machine, reads what was asked
    even if the file changes. A job that cannot be queued leaves no inputs.

    Raises
    ------
    InvalidInputError
        For neither or both of ``rows`` and ``inputs``, a file outside the data folder or
        missing, rows that do not form a table.
    ConflictError
        For a version of MLflow's format: POST /models/{ref}/predict serves it, no job.
    """
    version = resolve(store, ref, project)
    if version.pipeline == MLFLOW_PIPELINE:
        raise ConflictError(
            f"model {version.model} version {version.version} is an MLflow model: POST "
            f"/models/{ref}/predict serves it (at most max_predict_rows rows a request); "
            "prediction jobs run AzuraForge's pipelines"
        )
    if (rows is None) == (inputs is None):
        raise InvalidInputError("send either rows (a list of objects) or inputs (a file name)")
    key = f"{PREDICTIONS}/{uuid.uuid4().hex[:12]}/{INPUTS_FILE}"
    try:
        source = _write_inputs(blobs, key, data_folder, rows, inputs)
        config = {
            "model": version.model, "version": version.version, "version_id": version.id,
            "reference": str(ref), "inputs": key, "source": source, "horizon": horizon,
        }  # fmt: skip
        job = NewJob(
            version.pipeline, config, kind=PREDICTION, project=project, submitter=submitter,
            name=f"predict-{version.model}-{uuid.uuid4().hex[:8]}", requeue_lost=True,
        )  # fmt: skip
        [record] = enqueue(store, transport, job)
    except BaseException:
        blobs.delete(key)
        raise
    return record


def _write_inputs(
    blobs: BlobStore,
    key: str,
    data_folder: DataFolder,
    rows: Sequence[Mapping[str, Any]] | None,
    inputs: str | None,
) -> str:
    """Write the job's inputs to the blob at ``key``; say where they came from."""
    if inputs is not None:
        blobs.put_file(_data_file(data_folder, inputs), key)
        return inputs
    assert rows is not None
    try:
        table = rows_table(rows)
    except DataFormatError as e:
        raise InvalidInputError(str(e), public=e.public) from None
    handle = io.StringIO(newline="")  # at most a request's rows: max_request_bytes
    writer = csv.writer(handle)
    writer.writerow(table.column_names)
    writer.writerows(table.rows)
    blobs.put_bytes(key, handle.getvalue().encode())
    return ROWS_SOURCE


def delete_inputs(blobs: BlobStore, record: ExperimentRecord) -> None:
    """Delete the inputs of the prediction job ``record`` (kept apart from its own files,
    which :func:`~azuraforge.platform.jobs.run_files.run_prefix` names); nothing for another
    kind of job, or a job whose inputs are among its own files."""
    inputs = str(record.config.get("inputs", "")) if record.kind == PREDICTION else ""
    if inputs.startswith(f"{PREDICTIONS}/"):
        blobs.delete_prefix(posixpath.dirname(inputs))


def _data_file(data_folder: DataFolder, name: str) -> Path:
    """``name`` as an existing file inside ``data_folder`` (never outside it)."""
    try:
        return data_folder.file(name)
    except InvalidParameterError as e:
        raise InvalidInputError(f"inputs: {e}") from None


def get_prediction(
    store: Runs, ref: ModelRef, job_id: int, project: str = DEFAULT_PROJECT
) -> ExperimentRecord:
    """Prediction job ``job_id`` of the model ``ref`` names (:class:`NotFoundError` if it is
    not one)."""
    record = store.find_experiment(job_id, project=project)
    if record is None or record.kind != PREDICTION or record.config.get("model") != ref.name:
        raise NotFoundError(f"model {ref.name!r} has no prediction job {job_id}")
    return record


def read_predictions(
    blobs: BlobStore, record: ExperimentRecord, limit: int
) -> tuple[dict[str, list[Any]], int]:
    """The first ``limit`` predictions of a completed job as columns (read from the blob
    store, never more than those rows), and how many in all."""
    name = str((record.result or {}).get("file") or PREDICTIONS_FILE)
    try:
        reader = blobs.open_reader(run_key(record.id, name))
    except NotFoundError:
        raise ConflictError(
            f"prediction job {record.id} has no predictions file any more"
        ) from None
    with io.TextIOWrapper(reader, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        names = next(rows)
        kept = [row for _, row in zip(range(limit), rows, strict=False)]
    total = int((record.result or {}).get("rows", len(kept)))
    columns = {name: _typed([row[i] for row in kept]) for i, name in enumerate(names)}
    return columns, total


def _typed(texts: list[str]) -> list[Any]:
    """A column read back: integers, else floats (empty: ``None``), else the texts."""
    for convert in (int, float):
        with contextlib.suppress(ValueError):
            return [convert(text) if text else None for text in texts]
    return texts


def rows_from_file(path: Path, *, header: bool | Literal["auto"]) -> list[dict[str, str]]:
    """The rows of a CSV file as objects of column: text (without a header, the columns are
    ``1``, ``2``...)."""
    try:
        table = read_csv(path, header=header)
    except AzuraForgeError as e:
        raise InvalidInputError(str(e), public=e.public) from None
    return [dict(zip(table.column_names, row, strict=True)) for row in table.rows]
