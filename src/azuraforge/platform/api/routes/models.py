"""``/models``: the registry (models, versions, aliases and their history) and predictions.

A model version is named by a reference wherever one is asked for: ``name@alias``,
``name/3`` or ``name`` (its latest version).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import AfterValidator

from azuraforge.apps import RowsRequest
from azuraforge.errors import InvalidParameterError
from azuraforge.platform.api.access import MANAGE, READ, WRITE, Reader, Writer
from azuraforge.platform.api.deps import (
    BlobsDep,
    DataFolderDep,
    ExperimentId,
    RegistryDep,
    RunsAndRegistryDep,
    RunsDep,
    TransportDep,
)
from azuraforge.platform.api.list_csv import CsvAsked, csv_of, csv_responses, page_or_csv
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.api.schemas.registry import (
    ALIAS_RULE,
    MODEL_NAME_RULE,
    AliasChange,
    AliasMovePublic,
    AliasMovesPublic,
    AliasPublic,
    AliasSet,
    ModelCreate,
    ModelPublic,
    ModelsPublic,
    PredictionJobCreate,
    PredictionJobPublic,
    PredictionJobsPublic,
    PredictionPublic,
    PredictRequest,
    VersionCreate,
    VersionPublic,
    VersionsPublic,
)
from azuraforge.platform.services import mlflow_serving, predictions, registry
from azuraforge.platform.services.batching import PredictBatcher
from azuraforge.platform.services.mlflow_serving import MlflowModel
from azuraforge.platform.services.predictions import PredictAnswer
from azuraforge.platform.services.registry import ModelRef, check_model_name
from azuraforge.platform.services.serving import ModelServer, Served
from azuraforge.platform.store import AliasMoveRecord
from azuraforge.platform.store.registry import MAX_VERSION
from azuraforge.platform.store.states import COMPLETED
from azuraforge.platform.tracing import span_from

router = APIRouter(prefix="/models", tags=["models"])
ERRORS = error_responses()
INLINE_ROWS = 200
"""Requests with up to this many rows are predicted on the event loop (about a millisecond),
in batches (:mod:`~azuraforge.platform.services.batching`); larger ones in a worker thread,
so they do not hold up the others."""
ModelName = Annotated[
    str,
    Path(description="A model's name.", json_schema_extra=MODEL_NAME_RULE),
    AfterValidator(check_model_name),
]
AliasName = Annotated[
    str,
    Path(description="An alias (not only digits).", json_schema_extra=ALIAS_RULE),
    AfterValidator(registry.check_alias),
]
VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION, description="A version number.")]
VersionOrAlias = Annotated[
    str,
    Path(
        pattern=f"^(?:{registry.VERSION}|{registry.ALIAS})$",
        max_length=registry.MAX_ALIAS,
        description="A version number or an alias.",
    ),
]
Reference = Annotated[
    str,
    Path(
        description="A model version: name@alias, name/3 or name (its latest version).",
        # Declared, and checked by ModelRef.parse: its 400 says which part is wrong.
        json_schema_extra={
            "pattern": f"^{registry.REFERENCE}$",
            "maxLength": registry.MAX_MODEL_NAME + 1 + registry.MAX_ALIAS,
        },
    ),
]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]


@functools.lru_cache(maxsize=1024)
def parse_ref(ref: str) -> ModelRef:
    """``ref`` read once per distinct text (the predict route parses it on every call)."""
    return ModelRef.parse(ref)


def listed_model(name: str) -> str:
    """``name`` if it names a model; a reference (``name@alias``, ``name/3``) is refused with
    a message saying that the listing takes the model's name.

    >>> listed_model("weather@champion")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: GET /models/{name}/predictions lists every prediction job of a model and takes its name, not a reference: got 'weather@champion'; ask for /models/weather/predictions (each job names the reference and version it was submitted with)
    """  # noqa: E501
    model = re.split(r"[@/]", name, maxsplit=1)[0]
    if model != name:
        ask = f"ask for /models/{model}/predictions " if model else ""
        raise InvalidParameterError(
            "GET /models/{name}/predictions lists every prediction job of a model and takes "
            f"its name, not a reference: got {name!r}; {ask}(each job names the reference "
            "and version it was submitted with)"
        )
    return check_model_name(name)


ListedModel = Annotated[
    str,
    Path(
        description="A model's name (not a reference).",
        json_schema_extra=MODEL_NAME_RULE,
    ),
    AfterValidator(listed_model),
]


def _server(request: Request) -> ModelServer:
    server: ModelServer = request.app.state.models
    return server


# ---- models ------------------------------------------------------------------------------
@router.post(
    "",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=ModelPublic,
    responses=ERRORS,
)
def create_model(body: ModelCreate, store: RegistryDep) -> ModelPublic:
    """Register a model name; its versions come from completed runs."""
    record = store.create_model(body.name, description=body.description, tags=body.tags)
    return ModelPublic.of(record)


ModelsCsv = csv_of(ModelPublic)
"""The CSV parameters of the list of ModelPublic."""


@router.get(
    "",
    dependencies=[READ],
    response_model=ModelsPublic,
    responses={**ERRORS, **csv_responses("The models.")},
)
def list_models(
    store: RegistryDep,
    csv: Annotated[CsvAsked | None, ModelsCsv],
    offset: Offset = 0,
    limit: Limit = 50,
) -> ModelsPublic | Response:
    """A page of models by name, each with its latest version and aliases; or
    (``format=csv``, or ``Accept: text/csv``) every model as CSV."""

    def page(offset: int, limit: int) -> tuple[list[ModelPublic], int]:
        records, total = store.list_models(offset=offset, limit=limit)
        return [ModelPublic.of(r) for r in records], total

    return page_or_csv(page, csv, "models.csv", ModelsPublic, offset, limit)


@router.get("/{name}", dependencies=[READ], response_model=ModelPublic, responses=ERRORS)
def get_model(name: ModelName, store: RegistryDep) -> ModelPublic:
    """One model: its latest version and where its aliases point."""
    return ModelPublic.of(store.get_model(name))


# ---- versions ----------------------------------------------------------------------------
@router.post(
    "/{name}/versions",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=VersionPublic,
    responses=ERRORS,
)
def create_version(
    name: ModelName, body: VersionCreate, store: RunsAndRegistryDep, blobs: BlobsDep, who: Writer
) -> VersionPublic:
    """Register a completed run's model (by run id or name) as the next version: its
    artifact's files are copied to the version's own, which nothing changes, and their
    SHA-256 recorded with the run's metrics, config and data fingerprint."""
    record = registry.register_version(
        store, blobs, name, body.experiment,
        description=body.description, actor=who.user, project=who.project,
    )  # fmt: skip
    return VersionPublic.of(record)


VersionsCsv = csv_of(VersionPublic)
"""The CSV parameters of the list of VersionPublic."""


@router.get(
    "/{name}/versions",
    dependencies=[READ],
    response_model=VersionsPublic,
    responses={**ERRORS, **csv_responses("The model's versions.")},
)
def list_versions(
    name: ModelName,
    store: RegistryDep,
    csv: Annotated[CsvAsked | None, VersionsCsv],
    offset: Offset = 0,
    limit: Limit = 50,
) -> VersionsPublic | Response:
    """A page of the model's versions, newest first; or (``format=csv``, or ``Accept:
    text/csv``) every version as CSV."""

    def page(offset: int, limit: int) -> tuple[list[VersionPublic], int]:
        records, total = store.list_versions(name, offset=offset, limit=limit)
        return [VersionPublic.of(r) for r in records], total

    return page_or_csv(page, csv, f"{name}-versions.csv", VersionsPublic, offset, limit)


@router.get(
    "/{name}/versions/{version}",
    dependencies=[READ],
    response_model=VersionPublic,
    responses=ERRORS,
)
def get_version(name: ModelName, version: VersionOrAlias, store: RegistryDep) -> VersionPublic:
    """One version, by number, or by alias (``/versions/champion``: where it points)."""
    ref = parse_ref(f"{name}/{version}" if version.isdigit() else f"{name}@{version}")
    return VersionPublic.of(registry.resolve(store, ref))


@router.delete(
    "/{name}/versions/{version}",
    dependencies=[MANAGE],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
def delete_version(
    name: ModelName, version: VersionNumber, store: RegistryDep, blobs: BlobsDep
) -> None:
    """Delete a version with its files; refused (409, naming them) while aliases point to it."""
    registry.delete_version(store, blobs, name, version)


# ---- aliases -----------------------------------------------------------------------------
@router.put(
    "/{name}/aliases/{alias}", dependencies=[WRITE], response_model=AliasPublic, responses=ERRORS
)
def set_alias(
    name: ModelName, alias: AliasName, body: AliasSet, store: RegistryDep, who: Writer
) -> AliasPublic:
    """Point ``alias`` at a version; the move (who: the caller, when, from → to, why) is
    recorded."""
    move = registry.move_alias(store, name, alias, body.version, actor=who.user,
                               reason=body.reason)  # fmt: skip
    return _alias(name, alias, body.version, move)


@router.get(
    "/{name}/aliases/{alias}", dependencies=[READ], response_model=AliasPublic, responses=ERRORS
)
def get_alias(name: ModelName, alias: AliasName, store: RegistryDep) -> AliasPublic:
    """Where ``alias`` points now."""
    version = store.get_alias(name, alias)
    return _alias(name, alias, version, None)


@router.delete(
    "/{name}/aliases/{alias}", dependencies=[WRITE], response_model=AliasPublic, responses=ERRORS
)
def delete_alias(
    name: ModelName,
    alias: AliasName,
    store: RegistryDep,
    who: Writer,
    reason: Annotated[str, Query(max_length=2000)] = "",
) -> AliasPublic:
    """Remove ``alias`` (recorded as a move to no version by the caller; a rollback brings
    it back)."""
    move = registry.move_alias(store, name, alias, None, actor=who.user, reason=reason)
    return _alias(name, alias, None, move)


@router.get(
    "/{name}/aliases/{alias}/history",
    dependencies=[READ],
    response_model=AliasMovesPublic,
    responses=ERRORS,
)
def alias_history(
    name: ModelName, alias: AliasName, store: RegistryDep, offset: Offset = 0, limit: Limit = 50
) -> AliasMovesPublic:
    """Every move of ``alias``, newest first: who, when, from → to, why, rollback or not."""
    moves, total = store.list_alias_moves(name, alias, offset=offset, limit=limit)
    data = [AliasMovePublic.of(m) for m in moves]
    return AliasMovesPublic(data=data, total=total, offset=offset, limit=limit)


@router.post(
    "/{name}/aliases/{alias}/rollback",
    dependencies=[WRITE],
    response_model=AliasPublic,
    responses=ERRORS,
)
def rollback_alias(
    name: ModelName, alias: AliasName, store: RegistryDep, who: Writer,
    body: AliasChange | None = None,
) -> AliasPublic:  # fmt: skip
    """Point ``alias`` back at the version before its last move (recorded as a rollback by
    the caller)."""
    change = body or AliasChange()
    move = registry.rollback_alias(store, name, alias, actor=who.user, reason=change.reason)
    return _alias(name, alias, move.to_version, move)


def _alias(
    name: str, alias: str, version: int | None, move: AliasMoveRecord | None
) -> AliasPublic:
    shown = None if move is None else AliasMovePublic.of(move)
    return AliasPublic(model=name, alias=alias, version=version, move=shown)


# ---- predictions -------------------------------------------------------------------------
@router.post(
    "/{ref:path}/predict", dependencies=[READ], response_model=PredictionPublic, responses=ERRORS
)
async def predict(ref: Reference, body: PredictRequest, request: Request, who: Reader) -> Response:
    """Predictions for the rows, from the version ``ref`` names, with its own preprocessing.
    The model stays loaded (LRU of ``model_cache_size``); a moved alias is served from its
    new version within about ``alias_refresh`` seconds, the old one answering meanwhile.
    A version of MLflow's format predicts in a process of its own (the rows read as MLflow's
    ``dataframe_records``), in a project that allows MLflow models."""
    parsed, server = parse_ref(ref), _server(request)
    loaded = server.cached(parsed, who.project)
    if loaded is None:
        loaded = await run_in_threadpool(server.get, parsed, who.project)
    span_attributes = {
        "azuraforge.model.version": loaded.version.version,
        "azuraforge.rows": len(body.rows),
    }
    with span_from(None, "predict", span_attributes):
        columns, history = await _predicted(loaded, body, request, who.project)
    count = len(next(iter(columns.values()))) if columns else 0
    answer = {
        "model": loaded.version.model, "version": loaded.version.version, "reference": ref,
        "rows": count, "predictions": columns,
    }  # fmt: skip
    if body.history:
        answer["history"] = history
    return Response(json.dumps(answer, allow_nan=False), media_type="application/json")


async def _predicted(
    loaded: Served, body: PredictRequest, request: Request, project: str
) -> PredictAnswer:
    """The predictions of ``loaded`` for the request's rows and, if asked, their history:
    small requests of our own models on the event loop, in a batch with those arriving
    with them (``predict_batch_wait``), the rest in a worker thread."""
    server = _server(request)
    max_rows = server.settings.max_predict_rows
    if isinstance(loaded, MlflowModel):
        return await run_in_threadpool(
            mlflow_serving.predict, server.store, project, loaded, body.rows, body.horizon,
            max_rows,
        )  # fmt: skip
    if len(body.rows) <= INLINE_ROWS:
        batcher: PredictBatcher = request.app.state.batcher
        asked = RowsRequest(body.rows, body.horizon, body.history)
        return await batcher.predict(loaded, asked, max_rows, server.settings.predict_batch_wait)
    arguments = (loaded, body.rows, body.horizon, max_rows, body.history)
    return await run_in_threadpool(predictions.predict, *arguments)


@router.post(
    "/{ref:path}/predictions",
    dependencies=[WRITE],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PredictionJobPublic,
    responses=ERRORS,
)
def submit_prediction(
    ref: Reference,
    body: PredictionJobCreate,
    store: RunsAndRegistryDep,
    transport: TransportDep,
    blobs: BlobsDep,
    folder: DataFolderDep,
    who: Writer,
) -> PredictionJobPublic:
    """Queue a prediction job on rows or on a file of the project's data folder
    (``inputs``); workers run it like any job. Follow it with GET …/predictions/{id}."""
    record = predictions.submit_prediction(
        store, transport, blobs, parse_ref(ref),
        rows=body.rows, inputs=body.inputs, horizon=body.horizon, data_folder=folder,
        submitter=who.user,
    )  # fmt: skip
    return PredictionJobPublic.of(record)


PredictionJobsCsv = csv_of(PredictionJobPublic)
"""The CSV parameters of the list of PredictionJobPublic."""


@router.get(
    "/{ref:path}/predictions",
    dependencies=[READ],
    response_model=PredictionJobsPublic,
    responses={**ERRORS, **csv_responses("The model's prediction jobs.")},
)
def list_predictions(
    ref: ListedModel,
    store: RegistryDep,
    csv: Annotated[CsvAsked | None, PredictionJobsCsv],
    offset: Offset = 0,
    limit: Limit = 50,
) -> PredictionJobsPublic | Response:
    """A page of the model's prediction jobs, newest first, whatever version or reference
    each was submitted with (each job names both; its predictions: GET …/predictions/{id}).

    This listing takes a model **name**, not a reference as its neighbours do: ``weather``
    here means every job of the model, where a reference ``weather`` means its latest
    version. ``weather@champion`` or ``weather/3`` is a 422 saying so (:func:`listed_model`).
    With ``format=csv`` (or ``Accept: text/csv``): every job as CSV."""

    def page(offset: int, limit: int) -> tuple[list[PredictionJobPublic], int]:
        records, total = store.list_prediction_jobs(ref, offset=offset, limit=limit)
        return [PredictionJobPublic.of(record) for record in records], total

    name = f"{ref}-predictions.csv"
    return page_or_csv(page, csv, name, PredictionJobsPublic, offset, limit)


@router.get(
    "/{ref:path}/predictions/{job_id}",
    dependencies=[READ],
    response_model=PredictionJobPublic,
    responses=ERRORS,
)
def get_prediction(
    ref: Reference,
    job_id: ExperimentId,
    store: RunsDep,
    blobs: BlobsDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> PredictionJobPublic:
    """A prediction job: its status and error; once completed, its first ``limit``
    predictions (all of them: ``download``, a CSV file)."""
    record = predictions.get_prediction(store, parse_ref(ref), job_id)
    shown = None
    if record.status == COMPLETED:
        shown = predictions.read_predictions(blobs, record, limit)[0]
    return PredictionJobPublic.of(record, shown)


@router.post(
    "/{ref:path}/predictions/{job_id}/cancel",
    dependencies=[WRITE],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PredictionJobPublic,
    responses=ERRORS,
)
def cancel_prediction(
    ref: Reference, job_id: ExperimentId, store: RunsDep, transport: TransportDep
) -> PredictionJobPublic:
    """Cancel a prediction job: a queued one at once, a running one is stopped at once (its
    worker takes the next job)."""
    predictions.get_prediction(store, parse_ref(ref), job_id)
    record = store.request_cancel(job_id)
    transport.cancel(job_id)
    return PredictionJobPublic.of(record)
