"""MLflow's tracking API over AzuraForge's runs: what an unchanged ``mlflow`` script needs,
given ``MLFLOW_TRACKING_URI`` (this server) and ``MLFLOW_TRACKING_TOKEN`` (a project's API
token).

An MLflow experiment is a grouping of the token's project's runs, never across projects
(the project's default one is MLflow's ``"0"``). A run made through MLflow is an external
run (:mod:`~azuraforge.platform.services.external_runs`) of the pipeline ``mlflow``: its id
is MLflow's run id, its params are its config, its MLflow tags are its tags
(``mlflow.runName`` names it as MLflow shows it), its metrics are its points. What MLflow
keeps differently is kept as MLflow keeps it: NaN values (beside the points: a curve draws
finite values), infinite ones as the largest finite double of their sign (MLflow's SQL
stores do so), 64-bit steps, params up to 6,000 characters, immutable.

This module reads MLflow's JSON (proto3's mapping: ``"NaN"`` for a NaN value), answers it
and maps this server's errors to MLflow's ``error_code`` (:func:`mlflow_error`);
:mod:`.mlflow_filter` parses ``search_runs``' filter and order.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from azuraforge.errors import (
    AzuraForgeError,
    ConflictError,
    InvalidParameterError,
    NotFoundError,
    shorten,
)
from azuraforge.platform.services.external_runs import start_external_run
from azuraforge.platform.services.mlflow_filter import (
    RUN_NAME,
    STATUS_OF,
)
from azuraforge.platform.store import ExperimentRecord
from azuraforge.platform.store.interfaces import MlflowGroups, RunsAndMlflowGroups
from azuraforge.platform.store.mlflow import (
    ARTIFACTS,
    MlflowExperimentRecord,
    MlflowRunRecord,
    NaNPoint,
)
from azuraforge.platform.store.states import (
    CANCELLED,
    COMPLETED,
    FAILED,
)

T = TypeVar("T")
PIPELINE = "mlflow"
"""The pipeline a run made through MLflow's API is shown as."""
MAX_RESULTS = 50_000
"""The most runs ``search_runs`` answers at once (MLflow's limit)."""
MAX_BATCH = {"metrics": 1000, "params": 100, "tags": 100}
"""The most of each a ``log-batch`` request carries (MLflow's limits)."""
MAX_BATCH_TOTAL = 1000
LARGEST = sys.float_info.max
"""What MLflow's SQL stores keep an infinite value as (with its sign)."""
MAX_STEP = 2**63 - 1
MIN_STEP = -(2**63)
MLFLOW_PATHS = ("/api/2.0/mlflow/", "/api/3.0/mlflow/", "/api/4.0/mlflow/",
                "/ajax-api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/",
                "/get-artifact", "/model-versions/get-artifact")  # fmt: skip
"""Where MLflow's calls are served (the ``get-artifact`` ones: its web page's downloads):
errors there answer in MLflow's form."""

ENDS = {"FINISHED": COMPLETED, "FAILED": FAILED, "KILLED": CANCELLED}
"""How an MLflow client's end of a run (``update``) ends it here."""


class AlreadyExistsError(ConflictError):
    """A name MLflow keeps unique is taken (MLflow's ``RESOURCE_ALREADY_EXISTS``)."""


class NotServedError(AzuraForgeError):
    """An MLflow call this server does not serve (501 ``NOT_IMPLEMENTED`` naming it)."""


# -- errors ---------------------------------------------------------------------------------

_CODES = {"NOT_FOUND": "RESOURCE_DOES_NOT_EXIST", "ALREADY_EXISTS": "RESOURCE_ALREADY_EXISTS",
          "CONFLICT": "RESOURCE_CONFLICT", "UNAUTHORIZED": "UNAUTHENTICATED",
          "FORBIDDEN": "PERMISSION_DENIED", "TOO_MANY_REQUESTS": "REQUEST_LIMIT_EXCEEDED",
          "NOT_IMPLEMENTED": "NOT_IMPLEMENTED", "METHOD_NOT_ALLOWED": "ENDPOINT_NOT_FOUND",
          "INTERNAL": "INTERNAL_ERROR"}  # fmt: skip


def is_mlflow_path(path: str) -> bool:
    """Whether ``path`` is one of MLflow's calls (:data:`MLFLOW_PATHS`)."""
    return path.startswith(MLFLOW_PATHS)


def mlflow_error(status: int, code: str, message: str) -> tuple[int, dict[str, str]]:
    """The status and body MLflow's client reads for this server's error ``code`` (``NOT_FOUND``,
    ``CONFLICT``...) answered with ``status``: ``{"error_code": ..., "message": ...}``.

    >>> mlflow_error(404, "NOT_FOUND", "MLflow run 7 not found")
    (404, {'error_code': 'RESOURCE_DOES_NOT_EXIST', 'message': 'MLflow run 7 not found'})
    >>> mlflow_error(422, "INVALID_REQUEST", "invalid request: body.key: missing")[0]
    400
    """
    if code in _CODES:
        name = _CODES[code]
    elif status >= 500:
        name = "TEMPORARILY_UNAVAILABLE"
    else:
        name = "INVALID_PARAMETER_VALUE"
    status = 400 if status == 422 or name == "RESOURCE_ALREADY_EXISTS" else status
    return status, {"error_code": name, "message": message}


def validation_message(errors: Sequence[Mapping[str, Any]], body: Any) -> str:
    """MLflow's words for the first field of a request body that does not validate:
    ``Missing value for required parameter 'key'.`` or ``Invalid value 31 for parameter
    'run_id' supplied.`` (the value as the body holds it, in compact JSON).

    >>> validation_message([{"loc": ("body", "run_id"), "type": "string_type"}], {"run_id": 31})
    "Invalid value 31 for parameter 'run_id' supplied."
    >>> validation_message([{"loc": ("body", "key"), "type": "missing"}], {})
    "Missing value for required parameter 'key'."
    """
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ())]
    name = loc[1] if len(loc) > 1 and loc[0] in ("body", "query") else ".".join(loc)
    value = body.get(name) if isinstance(body, Mapping) else None
    if value is None or (first.get("type") == "missing" and len(loc) == 2):
        return f"Missing value for required parameter '{name}'."
    shown = json.dumps(value, separators=(",", ":"))
    return f"Invalid value {shorten(shown, 200)} for parameter '{name}' supplied."


def check_artifact_location(value: str) -> str:
    """An experiment's ``artifact_location`` as asked on its creation: ``""`` (this
    server's default, ``mlflow-artifacts:/<its id>``) or ``mlflow-artifacts:/<name>``, a
    name of this server's artifact proxy (letters first, then letters, digits, ``_.-``; not
    ``registry``). Its runs' files are kept among their own files either way; never a path
    on the server's disk.

    >>> check_artifact_location("mlflow-artifacts:/team-a/")
    'mlflow-artifacts:/team-a'

    Raises
    ------
    InvalidParameterError
        For any other location.
    """
    if not value:
        return ""
    name = value.removeprefix(ARTIFACTS).strip("/")
    if value.startswith(ARTIFACTS) and _LOCATION.fullmatch(name) and name != "registry":
        return f"{ARTIFACTS}{name}"
    raise InvalidParameterError(
        f"artifact_location {shorten(value, 100, quoted=True)} is not one of this server's: "
        f"an experiment's files go to its artifact proxy; give {ARTIFACTS}<name> (a letter, "
        "then letters, digits, '_', '.', '-') or none"
    )


_LOCATION = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,99}")


# -- reading MLflow's JSON ------------------------------------------------------------------


def run_id_of(value: str | None) -> int:
    """The run id an MLflow client sends (``run_id``, or the older ``run_uuid``).

    Raises
    ------
    NotFoundError
        For a value that is not one of this server's run ids (MLflow's are 32 hex digits).
    InvalidParameterError
        For none.
    """
    if value is None:
        raise InvalidParameterError("Missing value for required parameter 'run_id'.")
    if re.fullmatch(r"[1-9][0-9]{0,9}", value) and int(value) < 2**31:
        return int(value)
    raise NotFoundError(f"Run with id={value[:40]} not found")


def experiment_id_of(value: str | None) -> int:
    """The MLflow experiment id an MLflow client sends (``"0"``: the project's default).

    Raises
    ------
    NotFoundError
        For a value that is not one of this server's experiment ids.
    """
    if value is not None and re.fullmatch(r"0|[1-9][0-9]{0,9}", value) and int(value) < 2**31:
        return int(value)
    raise NotFoundError(f"No Experiment with id={str(value)[:40]} exists")


def metric_value(value: float | str) -> float:
    """A metric's value as MLflow sends it (a number, or ``"NaN"``, ``"Infinity"``,
    ``"-Infinity"``); an infinite one kept as MLflow's SQL stores keep it, the largest
    finite double of its sign.

    >>> metric_value("NaN") != metric_value("NaN"), metric_value("-Infinity"), metric_value(2)
    (True, -1.7976931348623157e+308, 2.0)
    """
    try:
        number = float(value)
    except ValueError:
        raise InvalidParameterError(f"a metric's value is a number, got {value!r}") from None
    if math.isinf(number):
        return math.copysign(LARGEST, number)
    return number


def check_step(step: int) -> int:
    """``step`` if it is a 64-bit integer (MLflow's steps are)."""
    if not MIN_STEP <= step <= MAX_STEP:  # constants: no big integers made per metric
        raise InvalidParameterError(f"a metric's step is a 64-bit integer, got {step}")
    return step


def split_points(
    metrics: Iterable[Mapping[str, Any]],
) -> tuple[list[tuple[str, int, float, float]], list[NaNPoint]]:
    """The finite points and the NaN values of ``metrics``, each as MLflow's client sends one
    (validated: ``key``, ``value`` as :func:`metric_value` reads it, ``timestamp`` in
    milliseconds since the epoch, ``step`` or 0), times in seconds.

    >>> split_points([{"key": "loss", "value": "NaN", "timestamp": 1500}, {"key": "loss",
    ...               "value": 0.5, "timestamp": 2000, "step": 1}])
    ([('loss', 1, 0.5, 2.0)], [('loss', 0, 1.5)])
    """
    points, nans = [], []
    for metric in metrics:
        key, value = metric["key"], metric_value(metric["value"])
        when, step = metric["timestamp"] / 1000.0, check_step(metric.get("step", 0))
        if math.isnan(value):
            nans.append((key, step, when))
        else:
            points.append((key, step, value, when))
    return points, nans


def check_batch(metrics: int, params: int, tags: int) -> None:
    """Refuse a ``log-batch`` over MLflow's limits (:data:`MAX_BATCH`)."""
    counts = {"metrics": metrics, "params": params, "tags": tags}
    for field, count in counts.items():
        if count > MAX_BATCH[field]:
            raise InvalidParameterError(
                f"a batch holds at most {MAX_BATCH[field]} {field}, got {count}"
            )
    if sum(counts.values()) > MAX_BATCH_TOTAL:
        raise InvalidParameterError(
            f"a batch holds at most {MAX_BATCH_TOTAL} metrics, params and tags in all, got "
            f"{sum(counts.values())}"
        )


# -- pages ----------------------------------------------------------------------------------


def page_offset(token: str | None) -> int:
    """The offset a page token (of :func:`page_token`) stands for; 0 for none.

    >>> page_offset(page_token(250))
    250
    """
    if not token:
        return 0
    try:
        offset = json.loads(base64.b64decode(token, validate=True))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidParameterError(f"invalid page token {token[:40]!r}") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidParameterError(f"invalid page token {token[:40]!r}")
    return offset


def page_token(offset: int) -> str:
    """The token of the page starting at ``offset``."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def paged(
    key: str, found: Sequence[T], offset: int, size: int,
    to_json: Callable[[Sequence[T]], list[Any]],
) -> dict[str, Any]:  # fmt: skip
    """MLflow's answer of one page: the first ``size`` of ``found`` (read one past the page,
    from ``offset``) as ``key``, and the next page's token when more follow.

    >>> paged("runs", [1, 2, 3], 0, 2, list)["runs"], page_offset(
    ...     paged("runs", [1, 2, 3], 0, 2, list)["next_page_token"])
    ([1, 2], 2)
    """
    answer: dict[str, Any] = {key: to_json(found[:size])}
    if len(found) > size:
        answer["next_page_token"] = page_token(offset + size)
    return answer


# -- answering in MLflow's JSON -------------------------------------------------------------


def number(value: float) -> float | str:
    """``value`` as proto3's JSON writes a double: ``"NaN"``, ``"Infinity"`` spelled."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def experiment_json(experiment: MlflowExperimentRecord) -> dict[str, Any]:
    """An MLflow experiment as MLflow's API answers it."""
    return {
        "experiment_id": experiment.public_id,
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle,
        "creation_time": int(experiment.created_at * 1000),
        "last_update_time": int(experiment.updated_at * 1000),
        "tags": [{"key": k, "value": v} for k, v in experiment.tags.items()],
    }


def run_info(found: MlflowRunRecord) -> dict[str, Any]:
    """A run's ``info`` as MLflow's API answers it: its ``user_id`` the one its MLflow
    client sent (as ``mlflow server`` answers it; the token's user is the run's submitter
    on AzuraForge's pages)."""
    record, experiment = found.run, found.experiment
    user = found.user_id
    if user is None:  # a run made before the client's user_id was kept
        user = record.tags.get("mlflow.user", record.submitter or "")
    info: dict[str, Any] = {
        "run_id": str(record.id),
        "run_uuid": str(record.id),
        "run_name": record.tags.get(RUN_NAME, record.name),
        "experiment_id": experiment.public_id,
        "user_id": user,
        "status": STATUS_OF.get(record.status, "FAILED"),
        "start_time": int((record.started_at or record.created_at) * 1000),
        "artifact_uri": f"{experiment.artifact_location}/{record.id}/artifacts",
        "lifecycle_stage": found.lifecycle,
    }
    if record.finished_at is not None:
        info["end_time"] = int(record.finished_at * 1000)
    return info


def run_json(found: MlflowRunRecord) -> dict[str, Any]:
    """A run as MLflow's API answers it, with the latest ``(value, step, time)`` of each of
    its metrics."""
    record = found.run
    metrics = [
        {"key": key, "value": number(value), "timestamp": int(when * 1000), "step": step}
        for key, (value, step, when) in sorted(found.latest.items())
    ]
    params = [{"key": k, "value": str(v)} for k, v in sorted(record.config.items())]
    tags = [{"key": k, "value": v} for k, v in record.tags.items()]
    return {
        "info": run_info(found),
        "data": {"metrics": metrics, "params": params, "tags": tags},
        "inputs": {},
    }


# -- the calls ------------------------------------------------------------------------------


def create_run(
    store: RunsAndMlflowGroups,
    mlflow_id: int,
    *,
    name: str | None,
    tags: Mapping[str, str],
    project: str,
    submitter: str | None,
    idle_limit: float,
    user_id: str = "",
    start_time: int | None = None,
) -> MlflowRunRecord:
    """Make a run in the project's MLflow experiment ``mlflow_id``, running from now (an
    external run alive ``idle_limit`` seconds past each write), named ``name`` as MLflow
    shows it (the run list's name too when no other run of the project has it), started at
    the client's ``start_time`` (milliseconds; now when none), with the ``user_id`` the
    client sent.

    Raises
    ------
    InvalidParameterError
        When ``name`` and the tag ``mlflow.runName`` differ (MLflow's words), or the
        experiment is deleted.
    """
    if name and tags.get(RUN_NAME, name) != name:
        raise InvalidParameterError(
            "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
            f"different values (run_name='{name}', mlflow.runName='{tags[RUN_NAME]}')."
        )
    name = name or tags.get(RUN_NAME)
    experiment = store.get_mlflow_experiment(mlflow_id, project=project)
    if experiment.lifecycle != "active":  # refused before a run is made
        raise InvalidParameterError(
            f"The experiment {experiment.public_id} must be in the 'active' state. "
            f"Current state is {experiment.lifecycle}."
        )

    def started(listed: str | None) -> ExperimentRecord:
        return start_external_run(store, PIPELINE, {}, idle_limit=idle_limit, project=project,
                                  submitter=submitter, name=listed)[0]  # fmt: skip

    record = None
    if name:
        # MLflow's run names need not be unique; the run list's must: a name taken is not its.
        with contextlib.suppress(ConflictError):
            record = started(name)
    record = record or started(None)
    tags = {**tags, RUN_NAME: name or record.name}
    since = None if start_time is None else start_time / 1000.0
    store.attach_mlflow_run(record.id, mlflow_id, tags, user_id=user_id, started_at=since)
    return store.get_mlflow_run(record.id)


def update_run(
    store: RunsAndMlflowGroups,
    found: MlflowRunRecord,
    status: str | None,
    name: str | None,
    end_time: int | None = None,
) -> None:
    """Rename the run as MLflow shows it, and end it as MLflow's ``status`` says, at the
    client's ``end_time`` (milliseconds; now when none)
    (``RUNNING`` leaves it running; the status it has already leaves it as it is: MLflow's
    client sends it with a rename, ``MlflowClient.update_run(id, name=...)``).

    An ended run's result is the latest value of each of its metrics, under ``metrics``
    (what ``search_runs`` calls ``metrics.<key>``): its scores, so that lists sort and filter
    MLflow runs beside pipeline runs (``metrics.MAE.model`` for a metric logged as
    ``MAE.model``). A metric whose latest value is not finite gives none.

    Raises
    ------
    InvalidParameterError
        For a status MLflow's client does not end a run with (nothing is written).
    ConflictError
        When ending a run that ended already otherwise.
    """
    if status is not None and status != "RUNNING" and status not in ENDS:
        raise InvalidParameterError(
            f"a run is ended as one of {', '.join(ENDS)} or left RUNNING; got {status!r}"
        )
    run = found.run
    if name:
        store.set_run_tags(run.id, {RUN_NAME: name})
    if status is None or status == "RUNNING" or STATUS_OF.get(run.status) == status:
        return
    _end_run(store, found, status, end_time)


def _end_run(
    store: MlflowGroups, found: MlflowRunRecord, status: str, end_time: int | None
) -> None:
    """End the run as MLflow's ``status`` (one of :data:`ENDS`) says, at ``end_time``, with
    the latest finite value of each of its metrics as its result (:func:`update_run`)."""
    run = found.run
    error = f"its MLflow client ended it as {status}" if status == "FAILED" else None
    latest = {key: value for key, (value, _, _) in found.latest.items() if math.isfinite(value)}
    result = {"metrics": latest} if latest else None
    store.end_external(run.id, ENDS[status], error=error, result=result)
    if end_time is not None:
        store.set_mlflow_run_end(run.id, end_time / 1000.0)
