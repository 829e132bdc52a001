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

This module reads MLflow's JSON (proto3's mapping: ``"NaN"`` for a NaN value), answers it,
parses ``search_runs``' filter and order (:func:`parse_filter`, :func:`parse_order`) and maps
this server's errors to MLflow's ``error_code`` (:func:`mlflow_error`).
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
from azuraforge.platform.store import ExperimentRecord
from azuraforge.platform.store.interfaces import MlflowGroups, RunsAndMlflowGroups
from azuraforge.platform.store.mlflow import (
    ARTIFACTS,
    MlflowExperimentRecord,
    MlflowRunRecord,
    NaNPoint,
)
from azuraforge.platform.store.mlflow_search import RunCondition, RunOrder
from azuraforge.platform.store.states import (
    CANCELLED,
    COMPLETED,
    FAILED,
    LOST,
    PRUNED,
    QUEUED,
    RUNNING,
)

T = TypeVar("T")
PIPELINE = "mlflow"
"""The pipeline a run made through MLflow's API is shown as."""
RUN_NAME = "mlflow.runName"
"""The tag holding a run's name as MLflow shows it."""
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

STATUS_OF = {QUEUED: "SCHEDULED", RUNNING: "RUNNING", COMPLETED: "FINISHED", FAILED: "FAILED",
             LOST: "FAILED", CANCELLED: "KILLED", PRUNED: "KILLED"}  # fmt: skip
"""MLflow's status of each of this server's (``lost``: FAILED, its error saying so)."""
STATUSES_OF = {name: tuple(s for s, n in STATUS_OF.items() if n == name)
               for name in sorted(set(STATUS_OF.values()))}  # fmt: skip
"""This server's statuses of each of MLflow's."""
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


# -- search_runs' filter and order ----------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<op>!=|>=|<=|=|>|<|<>)
    | (?P<punct>[(),])
    | (?P<ident>[A-Za-z_][\w]*(?:\.(?:`[^`]*`|"[^"]*"|[\w.\-/:]+))?)
    )""",
    re.VERBOSE,
)
ENTITIES = {"metric": "metric", "metrics": "metric", "param": "param", "params": "param",
            "parameter": "param", "parameters": "param", "tag": "tag", "tags": "tag",
            "attribute": "attribute", "attributes": "attribute", "attr": "attribute",
            "run": "attribute", "dataset": "dataset", "datasets": "dataset"}  # fmt: skip
ATTRIBUTES = ("status", "start_time", "end_time", "run_name", "run_id")
"""The run attributes a filter compares (``run_name`` is the tag ``mlflow.runName``)."""
ORDER_ATTRIBUTES = ("start_time", "end_time", "status", "run_name", "run_id", "created")
DATASET_KEYS = ("name", "digest", "context")
"""What a filter compares of a run's input datasets (``context``: the input's tag
``mlflow.data.context``)."""
_NUMERIC = ("=", "!=", ">", ">=", "<", "<=")
_TEXT = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")


def _tokens(text: str) -> list[tuple[str, str]]:
    """``(kind, text)`` of each token of a filter or order clause.

    >>> _tokens("metrics.`a b` >= -1.5 AND tags.mlflow.runName = 'x'")[:3]
    [('ident', 'metrics.`a b`'), ('op', '>='), ('number', '-1.5')]
    """
    found, at = [], 0
    text = text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise InvalidParameterError(
                f"cannot read the filter at {text[at : at + 30].strip()!r} (character {at + 1})"
            )
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


def _unquote(text: str) -> str:
    """A quoted string or key without its quotes (``\\'`` read as ``'``)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _identifier(text: str, *, order: bool = False) -> tuple[str, str]:
    """``(entity, key)`` of ``metrics.loss``, ``tags."a b"``, ``start_time``..."""
    entity, dot, key = text.partition(".")
    if not dot:
        entity, key = "attribute", text
    if entity.lower() not in ENTITIES:
        raise InvalidParameterError(
            f"{text!r} names no run field this server filters on: use metrics.<key>, "
            "params.<key>, tags.<key>, attributes.<name> or datasets.<name|digest|context>"
        )
    entity, key = ENTITIES[entity.lower()], _unquote(key)
    if entity == "dataset" and (order or key not in DATASET_KEYS):
        raise InvalidParameterError(
            f"{text!r}: runs are ordered by no dataset, and filtered by "
            f"{', '.join(f'datasets.{k}' for k in DATASET_KEYS)}"
        )
    if entity == "attribute":
        entity, key = _attribute(key, order=order)
    if not key:
        raise InvalidParameterError(f"{text!r} names no key")
    return entity, key


def _attribute(key: str, *, order: bool) -> tuple[str, str]:
    """``(entity, key)`` of the run attribute ``key`` (``run_name``: its tag), one that runs
    are filtered by (or, for an ``order``, ordered by)."""
    allowed = ORDER_ATTRIBUTES if order else ATTRIBUTES
    if key not in allowed:
        raise InvalidParameterError(
            f"attribute {key!r} is not one this server {'orders' if order else 'filters'}"
            f" by; attributes: {', '.join(allowed)}"
        )
    return ("tag", RUN_NAME) if key == "run_name" else ("attribute", key)


def parse_filter(text: str | None) -> list[RunCondition]:
    """The conditions of an MLflow ``search_runs`` filter: comparisons joined by ``AND``
    (``metrics.x > 1 AND params.y = 'a' AND tags.z != 'b' AND attributes.status =
    'FINISHED'``). Metrics compare with numbers, params, tags and ``run_name`` with quoted
    text (``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IN (...)``, ``NOT IN (...)``), ``status``
    with MLflow's statuses, ``start_time`` and ``end_time`` with milliseconds, ``run_id``
    with ids.

    >>> for c in parse_filter("metrics.rmse < 0.5 and params.lr = '0.1' AND "
    ...                       "attributes.status IN ('FINISHED', 'KILLED')"):
    ...     print(c.entity, c.key, c.op, c.value)
    metric rmse < 0.5
    param lr = 0.1
    attribute status IN ('completed', 'cancelled', 'pruned')

    Raises
    ------
    InvalidParameterError
        Naming what it does not read or serve (``OR``, a field, an operator, a value).
    """
    return _conditions(text, _comparison)


def _conditions(
    text: str | None,
    comparison: Callable[[list[tuple[str, str]], int], tuple[RunCondition, int]],
) -> list[RunCondition]:
    """The comparisons of ``text`` joined by ``AND``, each read by ``comparison``."""
    tokens = _tokens(text or "")
    conditions: list[RunCondition] = []
    at = 0
    while at < len(tokens):
        condition, at = comparison(tokens, at)
        conditions.append(condition)
        if at < len(tokens):
            kind, word = tokens[at]
            if word.upper() == "OR":
                raise InvalidParameterError(
                    "OR is not served: an MLflow filter joins its comparisons with AND"
                )
            if kind != "ident" or word.upper() != "AND":
                raise InvalidParameterError(f"expected AND between comparisons, got {word!r}")
            at += 1
            if at == len(tokens):
                raise InvalidParameterError("the filter ends with AND")
    return conditions


EXPERIMENT_ATTRIBUTES = ("name", "experiment_id", "creation_time", "last_update_time")
"""What an experiment search filters and orders by, beside ``tags.<key>``."""
_EXPERIMENT_TIMES = ("creation_time", "last_update_time")


def parse_experiment_filter(text: str | None) -> list[RunCondition]:
    """The conditions of an MLflow ``search_experiments`` filter: comparisons joined by
    ``AND`` of ``name`` (quoted text by ``=``, ``!=``, ``LIKE``, ``ILIKE``),
    ``creation_time`` and ``last_update_time`` (milliseconds, by ``=``, ``!=``, ``<``,
    ``<=``, ``>``, ``>=``), ``experiment_id`` (``=``, ``!=``, ``IN``, ``NOT IN``) and
    ``tags.<key>`` (``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IS NULL``, ``IS NOT NULL``);
    attributes may be written ``attribute.name``.

    >>> for c in parse_experiment_filter("name ILIKE 'a%' AND tags.team IS NOT NULL AND "
    ...                                  "creation_time > 1000"):
    ...     print(c.entity, c.key, c.op, c.value)
    attribute name ILIKE a%
    tag team IS NOT NULL None
    attribute creation_time > 1.0

    Raises
    ------
    InvalidParameterError
        Naming what it does not read.
    """
    return _conditions(text, _experiment_comparison)


def _experiment_field(text: str) -> tuple[str, str]:
    """``(entity, key)`` of an experiment's field: ``attribute`` or ``tag``."""
    entity, dot, key = text.partition(".")
    if not dot:
        entity, key = "attribute", text
    entity = {"attribute": "attribute", "attributes": "attribute", "tag": "tag",
              "tags": "tag"}.get(entity.lower(), "")  # fmt: skip
    key = _unquote(key)
    if not entity:
        raise InvalidParameterError(
            f"Invalid entity type in {text!r}: an experiment is searched by attribute.<name> "
            "or tags.<key>"
        )
    if entity == "attribute" and key not in EXPERIMENT_ATTRIBUTES:
        raise InvalidParameterError(
            f"Invalid attribute key '{key}' specified. Valid keys are "
            f"{', '.join(EXPERIMENT_ATTRIBUTES)}"
        )
    if not key:
        raise InvalidParameterError(f"{text!r} names no key")
    return entity, key


def _experiment_comparison(tokens: list[tuple[str, str]], at: int) -> tuple[RunCondition, int]:
    kind, word = tokens[at]
    if kind != "ident":
        raise InvalidParameterError(f"expected a field (name, tags.<key>...), got {word!r}")
    entity, key = _experiment_field(word)
    words = [w.upper() for _, w in tokens[at + 1 : at + 4]]
    for op in ("IS NULL", "IS NOT NULL"):
        if words[: op.count(" ") + 1] == op.split():
            if entity != "tag":
                raise InvalidParameterError(f"{op} is served for tags, not for {word!r}")
            return RunCondition("tag", key, op, None), at + 1 + op.count(" ") + 1
    op, at = _operator(tokens, at + 1)
    value, at = _value(tokens, at)
    return _experiment_condition(entity, key, word, op, value), at


def _experiment_condition(entity: str, key: str, word: str, op: str, value: Any) -> RunCondition:
    """``word``'s comparison, its value checked against what the field compares with (its
    times in MLflow's milliseconds, its ids quoted)."""
    if key in _EXPERIMENT_TIMES:
        if op not in _NUMERIC or not isinstance(value, float):
            raise InvalidParameterError(
                f"{word} compares with a number by {', '.join(_NUMERIC)}; got {op} {value!r}"
            )
        return RunCondition(entity, key, op, value / 1000.0)
    if key == "experiment_id" and entity == "attribute":
        return _experiment_id_condition(word, op, value)
    if op not in ("=", "!=", "LIKE", "ILIKE") or not isinstance(value, str):
        raise InvalidParameterError(
            f"{word} compares with quoted text by =, !=, LIKE, ILIKE; got {op} {value!r}"
        )
    return RunCondition(entity, key, op, value)


def _experiment_id_condition(word: str, op: str, value: Any) -> RunCondition:
    """``experiment_id`` compared with quoted ids (one that is not ours matches nothing)."""
    values = value if isinstance(value, tuple) else (value,)
    if op not in ("=", "!=", "IN", "NOT IN") or not all(isinstance(v, str) for v in values):
        raise InvalidParameterError(f"{word} compares with quoted ids by =, !=, IN, NOT IN")
    ids = _our_ids(values)
    compared = ids if isinstance(value, tuple) else ids[0]
    return RunCondition("attribute", "experiment_id", op, compared)


def _our_ids(values: Sequence[str]) -> tuple[int, ...]:
    """Quoted ids as numbers; one that is not ours (not a number) matches nothing (-1)."""
    return tuple(int(v) if re.fullmatch(r"[0-9]{1,10}", v) else -1 for v in values)


def parse_experiment_order(clauses: Sequence[str] | None) -> list[RunOrder]:
    """The keys of a ``search_experiments`` ``order_by``: an attribute of
    :data:`EXPERIMENT_ATTRIBUTES`, ``ASC`` unless ``DESC``.

    >>> [(o.key, o.ascending) for o in parse_experiment_order(["name DESC", "experiment_id"])]
    [('name', False), ('experiment_id', True)]
    """
    orders = []
    for clause in clauses or ():
        field, ascending = _order_clause(clause)
        entity, key = _experiment_field(field)
        if entity != "attribute":
            raise InvalidParameterError(f"Invalid order_by entity: {entity}")
        orders.append(RunOrder(entity, key, ascending))
    return orders


def _order_clause(clause: str) -> tuple[str, bool]:
    """The field of one ``order_by`` clause and whether it ascends."""
    tokens = _tokens(clause)
    if not tokens or tokens[0][0] != "ident" or len(tokens) > 2:
        raise InvalidParameterError(f"cannot read order_by {clause!r}: give <field> [ASC|DESC]")
    direction = tokens[1][1].upper() if len(tokens) == 2 else "ASC"
    if direction not in ("ASC", "DESC"):
        raise InvalidParameterError(f"order_by {clause!r} ends with ASC or DESC")
    return tokens[0][1], direction == "ASC"


def _comparison(tokens: list[tuple[str, str]], at: int) -> tuple[RunCondition, int]:
    kind, word = tokens[at]
    if kind != "ident":
        raise InvalidParameterError(f"expected a field (metrics.<key>...), got {word!r}")
    entity, key = _identifier(word)
    op, at = _operator(tokens, at + 1)
    value, at = _value(tokens, at)
    return _typed(entity, key, op, value, word), at


def _operator(tokens: list[tuple[str, str]], at: int) -> tuple[str, int]:
    if at >= len(tokens):
        raise InvalidParameterError("the filter ends before its comparison's operator")
    kind, word = tokens[at]
    if kind == "op":
        if word == "<>":
            raise InvalidParameterError("the operator <> is not served: use !=")
        return word, at + 1
    upper = word.upper()
    if upper == "NOT" and at + 1 < len(tokens) and tokens[at + 1][1].upper() == "IN":
        return "NOT IN", at + 2
    if upper in ("LIKE", "ILIKE", "IN"):
        return upper, at + 1
    raise InvalidParameterError(
        f"{word!r} is not an operator served: use =, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN"
    )


def _value(tokens: list[tuple[str, str]], at: int) -> tuple[Any, int]:
    if at >= len(tokens):
        raise InvalidParameterError("the filter ends before its comparison's value")
    kind, word = tokens[at]
    if kind == "string":
        return _unquote(word), at + 1
    if kind == "number":
        return float(word), at + 1
    if word != "(":
        raise InvalidParameterError(
            f"expected a value (a number, a quoted text, or a list in parentheses), got {word!r}"
        )
    return _listed(tokens, at + 1)


def _listed(tokens: list[tuple[str, str]], at: int) -> tuple[tuple[Any, ...], int]:
    """The values of a list in parentheses whose first value is at ``at``; the token after
    its ``)``."""
    items: list[Any] = []
    while True:
        if at >= len(tokens):
            raise InvalidParameterError("a list of values is not closed with )")
        item, at = _value(tokens, at)
        if isinstance(item, tuple):
            raise InvalidParameterError("a list of values holds no list")
        items.append(item)
        if at < len(tokens) and tokens[at][1] == ",":
            at += 1
            continue
        if at < len(tokens) and tokens[at][1] == ")":
            return tuple(items), at + 1
        raise InvalidParameterError("a list of values separates them with , and ends with )")


def _typed(entity: str, key: str, op: str, value: Any, field: str) -> RunCondition:
    """The condition, its value checked against what ``field`` compares with."""
    listed = op in ("IN", "NOT IN")
    if listed != isinstance(value, tuple):
        raise InvalidParameterError(
            f"{op} compares {field} with {'a list (...)' if listed else 'one value'}"
        )
    values = value if listed else (value,)
    if entity == "metric" or (entity == "attribute" and key in ("start_time", "end_time")):
        return _numeric_condition(entity, key, op, value, values, field)
    _check_text(op, value, values, field)
    if entity == "attribute" and key == "status":
        return _status_condition(op, values, field)
    if entity == "attribute":
        return _run_id_condition(key, op, values, field, listed=listed)
    return RunCondition(entity, key, op, value)


def _check_text(op: str, value: Any, values: tuple[Any, ...], field: str) -> None:
    """Refuse a comparison of ``field`` that is not of quoted text by one of :data:`_TEXT`."""
    if op not in _TEXT or not all(isinstance(v, str) for v in values):
        raise InvalidParameterError(
            f"{field} compares with quoted text by {', '.join(_TEXT)}; got {op} {value!r}"
        )


def _numeric_condition(
    entity: str, key: str, op: str, value: Any, values: tuple[Any, ...], field: str
) -> RunCondition:
    """A metric's or a run's time compared with numbers (times in MLflow's milliseconds)."""
    if op not in _NUMERIC or not all(isinstance(v, float) for v in values):
        raise InvalidParameterError(
            f"{field} compares with a number by {', '.join(_NUMERIC)}; got {op} {value!r}"
        )
    if entity == "attribute":
        value = value / 1000.0  # MLflow's milliseconds, stored in seconds
    return RunCondition(entity, key, op, value)


def _run_id_condition(
    key: str, op: str, values: tuple[str, ...], field: str, *, listed: bool
) -> RunCondition:
    """``run_id`` compared with ids (one that is not ours matches no run)."""
    if op in ("LIKE", "ILIKE"):
        raise InvalidParameterError(f"{field} compares by =, !=, IN or NOT IN")
    ids = _our_ids(values)
    return RunCondition("attribute", key, op, ids if listed else ids[0])


def _status_condition(op: str, names: Sequence[str], field: str) -> RunCondition:
    if op in ("LIKE", "ILIKE"):
        raise InvalidParameterError(f"{field} compares by =, !=, IN or NOT IN")
    unknown = [n for n in names if n not in STATUSES_OF]
    if unknown:
        raise InvalidParameterError(
            f"{unknown[0]!r} is not an MLflow run status; statuses: {', '.join(STATUSES_OF)}"
        )
    ours = tuple(s for n in names for s in STATUSES_OF[n])
    return RunCondition("attribute", "status", "NOT IN" if op in ("!=", "NOT IN") else "IN", ours)


def parse_order(clauses: Sequence[str] | None) -> list[RunOrder]:
    """The keys of an MLflow ``order_by``: ``metrics.x DESC``, ``attributes.start_time``,
    ``params.p ASC``, ``tags.t`` (ascending unless ``DESC``).

    >>> [(o.entity, o.key, o.ascending) for o in parse_order(["metrics.`a b` DESC", "start_time"])]
    [('metric', 'a b', False), ('attribute', 'start_time', True)]
    """
    orders = []
    for clause in clauses or ():
        field, ascending = _order_clause(clause)
        entity, key = _identifier(field, order=True)
        orders.append(RunOrder(entity, key, ascending))
    return orders
