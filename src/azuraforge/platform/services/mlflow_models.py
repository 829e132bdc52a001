"""MLflow 3's logged models and datasets over AzuraForge's runs, so that
``mlflow.<flavor>.log_model`` and autologging work unchanged: a logged model is made within
an MLflow run of the caller's project and keeps its files among that run's, in the folder
``models/<model id>/`` (its ``artifact_location`` is that folder's ``mlflow-artifacts:/``
URI, which the artifact proxy serves as any of the run's files); a dataset is kept once per
MLflow experiment by name and digest, and each run's inputs and outputs beside it.

This module reads what MLflow's client sends for them (a logged model's id, the filter and
ordering of ``search_logged_models``) and answers in MLflow's JSON
(:func:`logged_model_json`, :func:`run_io_json`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from azuraforge.errors import InvalidParameterError, shorten
from azuraforge.platform.services.mlflow_api import number
from azuraforge.platform.store.interfaces import MlflowModels
from azuraforge.platform.store.mlflow_models import (
    MODEL_ID,
    STATUSES,
    DatasetIn,
    DatasetRef,
    LoggedModelRecord,
    ModelCondition,
    ModelOrder,
    RunIO,
    model_not_found,
)

MAX_SEARCH = 1000
"""The most logged models ``search_logged_models`` answers at once."""


def model_id_of(value: str) -> str:
    """``value`` if it is a logged model's id of this server (``m-`` and 32 hex digits).

    Raises
    ------
    NotFoundError
        Otherwise, as for an id that names no model (MLflow's wording).
    """
    if MODEL_ID.fullmatch(value):
        return value
    raise model_not_found(value)


def logged_model_folder(store: MlflowModels, project: str, model_id: str) -> tuple[int, str]:
    """``(run id, folder)`` of the project's logged model ``model_id``: the run it was made
    in and the folder of its files relative to that run's (``models/<model id>``).

    Raises
    ------
    NotFoundError
        For an id of no logged model of the project (deleted ones included: their files are
        their run's still).
    """
    found = store.get_logged_model(model_id_of(model_id), project=project, allow_deleted=True)
    return found.run_id, found.folder


def _pairs(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in values.items()]


def logged_model_json(model: LoggedModelRecord) -> dict[str, Any]:
    """A logged model as MLflow's API answers it (``{"info": ..., "data": ...}``)."""
    info: dict[str, Any] = {
        "model_id": model.id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": int(model.created_at * 1000),
        "last_updated_timestamp_ms": int(model.updated_at * 1000),
        "artifact_uri": model.artifact_location,
        "status": model.status,
        "source_run_id": str(model.run_id),
        "tags": _pairs(model.tags),
    }
    optional = {"model_type": model.model_type, "status_message": model.status_message}
    info.update({key: value for key, value in optional.items() if value})
    metrics = []
    for metric in model.metrics:
        shown: dict[str, Any] = {
            "key": metric.key,
            "value": number(metric.value),
            "timestamp": metric.timestamp,
            "step": metric.step,
            "model_id": metric.model_id,
            "run_id": str(metric.run_id),
        }
        if metric.dataset_name:
            shown["dataset_name"] = metric.dataset_name
        if metric.dataset_digest:
            shown["dataset_digest"] = metric.dataset_digest
        metrics.append(shown)
    return {"info": info, "data": {"params": _pairs(model.params), "metrics": metrics}}


def _dataset_json(dataset: DatasetIn) -> dict[str, Any]:
    shown = {"name": dataset.name, "digest": dataset.digest,
             "source_type": dataset.source_type, "source": dataset.source}  # fmt: skip
    if dataset.schema:
        shown["schema"] = dataset.schema
    if dataset.profile:
        shown["profile"] = dataset.profile
    return {"tags": _pairs(dataset.tags), "dataset": shown}


def run_io_json(io: RunIO) -> dict[str, Any]:
    """A run's ``inputs`` and ``outputs`` as MLflow's API answers them in a run."""
    return {
        "inputs": {
            "dataset_inputs": [_dataset_json(d) for d in io.datasets],
            "model_inputs": [{"model_id": m} for m in io.model_inputs],
        },
        "outputs": {
            "model_outputs": [{"model_id": m, "step": step} for m, step in io.model_outputs]
        },
    }


def runs_io_json(store: MlflowModels, run_ids: Sequence[int], *, project: str) -> dict[int, Any]:
    """``{run id: {"inputs": ..., "outputs": ...}}`` of the project's runs ``run_ids``, in one
    read: what ``runs/get`` and ``runs/search`` answer beside each run's ``info`` and
    ``data``."""
    found = store.mlflow_run_io(run_ids, project=project)
    return {run_id: run_io_json(io) for run_id, io in found.items()}


# -- search_logged_models' filter and order ------------------------------------------------

_FIELD = r"(?P<field>[A-Za-z_]\w*(?:\.(?:`[^`]*`|\"[^\"]*\"|[\w.\-/:]+))?)"
_TEXT = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_NUMBER = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_COMPARISON = re.compile(
    rf"\s*{_FIELD}\s*(?P<op>!=|>=|<=|=|>|<|NOT\s+IN\b|IN\b|ILIKE\b|LIKE\b)\s*"
    rf"(?P<value>{_TEXT}|{_NUMBER}|\((?:\s*(?:{_TEXT})\s*,?)*\))\s*(?P<end>AND\b|$)",
    re.IGNORECASE,
)
_ATTRIBUTES = {"name": "name", "model_id": "id", "model_type": "model_type",
               "status": "status", "source_run_id": "run_id",
               "creation_timestamp": "created_at", "creation_time": "created_at",
               "last_updated_timestamp": "updated_at"}  # fmt: skip
"""The attributes of a logged model a filter or ordering names, and their columns."""
_TIMES = ("created_at", "updated_at")
_ENTITIES = {"metrics": "metric", "metric": "metric", "params": "param", "param": "param",
             "tags": "tag", "tag": "tag", "attributes": "attribute",
             "attribute": "attribute"}  # fmt: skip


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _field(text: str) -> tuple[str, str]:
    """``(entity, key)`` of ``metrics.acc``, ``params.`a b```, ``name``, ``attributes.status``;
    an attribute's key is its column."""
    entity, dot, key = text.partition(".")
    if not dot:
        entity, key = "attribute", text
    entity = _ENTITIES.get(entity.lower(), "")
    key = _unquote(key)
    if entity == "attribute":
        if key not in _ATTRIBUTES:
            raise InvalidParameterError(
                f"{text!r} is no attribute of a logged model; attributes: {', '.join(_ATTRIBUTES)}"
            )
        return entity, _ATTRIBUTES[key]
    if not entity or not key:
        raise InvalidParameterError(
            f"{shorten(text, 60, quoted=True)} names no field of a logged model: use "
            "metrics.<key>, params.<key>, tags.<key> or an attribute"
        )
    return entity, key


def parse_model_filter(text: str | None) -> list[ModelCondition]:
    """The conditions of a ``search_logged_models`` filter: comparisons joined by ``AND``
    (``name = 'm' AND metrics.acc > 0.9 AND params.alpha IN ('1', '2')``); metrics and
    times (milliseconds) compare with numbers, the rest with quoted text.

    >>> [(c.entity, c.key, c.op, c.value) for c in parse_model_filter(
    ...     "metrics.acc >= 0.9 and status = 'READY' AND tags.t IN ('a', 'b')")]
    [('metric', 'acc', '>=', 0.9), ('attribute', 'status', '=', 'LOGGED_MODEL_READY'), ('tag', 't', 'IN', ('a', 'b'))]

    Raises
    ------
    InvalidParameterError
        Naming what it cannot read.
    """  # noqa: E501
    text = (text or "").strip()
    conditions, at = [], 0
    while at < len(text):
        match = _COMPARISON.match(text, at)
        if match is None or (match.group("end") and match.end() == len(text.rstrip())):
            raise InvalidParameterError(
                f"cannot read the filter at {text[at : at + 40].strip()!r} (character "
                f"{at + 1}): give <field> <operator> <value>, joined by AND"
            )
        conditions.append(_condition(match))
        at = match.end()
    return conditions


def _condition(match: re.Match[str]) -> ModelCondition:
    entity, key = _field(match.group("field"))
    op = " ".join(match.group("op").upper().split())
    raw = match.group("value")
    listed = raw.startswith("(")
    if listed != (op in ("IN", "NOT IN")):
        raise InvalidParameterError(f"{op} compares {match.group('field')} with a wrong value")
    numeric = entity == "metric" or key in _TIMES
    value = _literal(raw)
    if numeric != isinstance(value, float) or (numeric and op not in _NUMERIC):
        kind = "a number" if numeric else "quoted text"
        raise InvalidParameterError(f"{match.group('field')} compares with {kind}, got {raw}")
    if key in _TIMES:
        value /= 1000.0
    if key == "status":
        value = _status(value)
    return ModelCondition(entity, key, op, value)


def _literal(raw: str) -> Any:
    """What ``raw`` writes: a list of quoted texts (a tuple), a quoted text, or a number."""
    if raw.startswith("("):
        return tuple(_unquote(v) for v in re.findall(_TEXT, raw))
    if raw[0] in "'\"":
        return _unquote(raw)
    return float(raw)


_NUMERIC = ("=", "!=", ">", ">=", "<", "<=")


def _status(value: Any) -> Any:
    """MLflow's status names (``READY`` or ``LOGGED_MODEL_READY``) as stored."""
    if isinstance(value, tuple):
        return tuple(_status(v) for v in value)
    named = value if value.startswith("LOGGED_MODEL_") else f"LOGGED_MODEL_{value}"
    return {"LOGGED_MODEL_FAILED": "LOGGED_MODEL_UPLOAD_FAILED"}.get(named, named)


def parse_model_order(clauses: Iterable[Mapping[str, Any]]) -> list[ModelOrder]:
    """The keys of a ``search_logged_models`` ordering: each ``{"field_name": ...,
    "ascending": ...}``, an attribute or ``metrics.<key>`` (whose latest value may be asked
    among those on a dataset: ``dataset_name``, ``dataset_digest``).

    >>> parse_model_order([{"field_name": "metrics.acc", "ascending": False,
    ...                     "dataset_name": "test"}])
    [ModelOrder(entity='metric', key='acc', ascending=False, dataset=('test', None))]
    """
    orders = []
    for clause in clauses:
        field = str(clause.get("field_name", ""))
        entity, key = _field(field)
        if entity not in ("attribute", "metric"):
            raise InvalidParameterError(
                f"Invalid order by field name: {shorten(field, 60)}. Only metrics are supported."
            )
        name, digest = clause.get("dataset_name"), clause.get("dataset_digest")
        if digest and not name:
            raise InvalidParameterError("an order's dataset_digest needs its dataset_name")
        dataset = (str(name), str(digest) if digest else None) if name else None
        if dataset and entity != "metric":
            raise InvalidParameterError(f"{field} is not a metric: it takes no dataset")
        orders.append(ModelOrder(entity, key, bool(clause.get("ascending", True)), dataset))
    return orders


def parse_datasets(datasets: Iterable[Mapping[str, Any]]) -> list[DatasetRef]:
    """The datasets of a ``search_logged_models``: ``(name, digest or None)`` of each
    ``{"dataset_name": ..., "dataset_digest": ...}``.

    Raises
    ------
    InvalidParameterError
        For one without a name (MLflow's words).
    """
    found: list[DatasetRef] = []
    for dataset in datasets:
        name, digest = dataset.get("dataset_name"), dataset.get("dataset_digest")
        if not name:
            raise InvalidParameterError(
                "`dataset_name` in the `datasets` clause must be specified."
            )
        found.append((str(name), str(digest) if digest else None))
    return found


def status_of(value: str | int) -> str:
    """A logged model's status as MLflow's client sends it, its name or its proto number (1
    pending, 2 ready, 3 upload failed), as the store names it (which refuses another)."""
    if isinstance(value, int):
        return dict(enumerate(STATUSES, start=1)).get(value, str(value))
    return value
