"""Request and response bodies of ``/models``: models, versions, aliases and their moves,
predictions and prediction jobs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from azuraforge.platform.api.deps import MAX_EXPERIMENT_ID
from azuraforge.platform.api.schemas.common import Page, RequestBody
from azuraforge.platform.services.registry import (
    ALIAS,
    MAX_ALIAS,
    MAX_MODEL_NAME,
    MODEL_NAME,
    check_model_name,
)
from azuraforge.platform.store import (
    AliasMoveRecord,
    ExperimentRecord,
    ModelRecord,
    ModelVersionRecord,
)
from azuraforge.platform.store.states import COMPLETED

MODEL_NAME_RULE: dict[str, Any] = {
    "pattern": f"^{MODEL_NAME}$",
    "minLength": 1,
    "maxLength": MAX_MODEL_NAME,
}
"""The OpenAPI of a model's name: the rule :func:`check_model_name` enforces."""
ALIAS_RULE: dict[str, Any] = {"pattern": f"^{ALIAS}$", "minLength": 1, "maxLength": MAX_ALIAS}
"""The OpenAPI of an alias: the rule :func:`~azuraforge.platform.services.registry.check_alias`
enforces."""
REASON = Field("", max_length=2000, description="Why, kept in the alias's history.")


class ModelCreate(RequestBody):
    """A model to register (its versions come from runs)."""

    name: Annotated[str, AfterValidator(check_model_name)] = Field(
        ..., description="Letters, digits, _ . - (not first).", json_schema_extra=MODEL_NAME_RULE
    )
    description: str = Field("", max_length=10_000)
    tags: dict[str, str | int | float | bool] = Field(default_factory=dict)


class ModelPublic(BaseModel):
    name: str
    description: str
    tags: dict[str, Any]
    created_at: float
    updated_at: float
    latest_version: int | None = Field(description="null before the first version.")
    aliases: dict[str, int] = Field(description="Alias → the version it points to.")

    @classmethod
    def of(cls, record: ModelRecord) -> ModelPublic:
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


class ModelsPublic(Page[ModelPublic]):
    pass


class VersionCreate(RequestBody):
    """Register a completed run's model as the next version."""

    experiment: int | str = Field(
        ...,
        description="The run's id or name (completed).",
        # Declared as _storable_id checks it (its 422 names the range, or the empty name).
        json_schema_extra={
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_EXPERIMENT_ID},
                {"type": "string", "minLength": 1},
            ]
        },
    )
    description: str = Field("", max_length=10_000)

    @field_validator("experiment")
    @classmethod
    def _storable_id(cls, experiment: int | str) -> int | str:
        # A larger id overflows the databases' integers: a 422 here, not a 500 from SQLite.
        if isinstance(experiment, int) and not 1 <= experiment <= MAX_EXPERIMENT_ID:
            raise ValueError(f"a run id is from 1 to {MAX_EXPERIMENT_ID}")
        if experiment == "":
            raise ValueError("the run's name is empty: give the run's id or its name")
        return experiment


class VersionPublic(BaseModel):
    model: str
    version: int
    pipeline: str
    source_experiment_id: int | None = Field(description="null once the run was deleted.")
    source_experiment_name: str
    artifact_digest: str = Field(description="SHA-256 of its files, checked on every load.")
    metrics: dict[str, Any]
    config: dict[str, Any]
    data_fingerprint: str
    description: str
    created_by: str
    created_at: float
    aliases: list[str]

    @classmethod
    def of(cls, record: ModelVersionRecord) -> VersionPublic:
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


class VersionsPublic(Page[VersionPublic]):
    pass


class AliasSet(RequestBody):
    """Point an alias at a version."""

    version: int = Field(..., ge=1, le=2**31 - 1)
    reason: str = REASON


class AliasChange(RequestBody):
    """Why an alias is rolled back (who: the caller)."""

    reason: str = REASON


class AliasMovePublic(BaseModel):
    id: int
    alias: str
    from_version: int | None = Field(description="null: the alias did not exist before.")
    to_version: int | None = Field(description="null: the alias was removed.")
    actor: str
    reason: str
    rollback: bool
    created_at: float

    @classmethod
    def of(cls, record: AliasMoveRecord) -> AliasMovePublic:
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


class AliasPublic(BaseModel):
    model: str
    alias: str
    version: int | None = Field(description="Where it points now; null once removed.")
    move: AliasMovePublic | None = Field(
        description="The move this request made; null when it changed nothing."
    )


class AliasMovesPublic(Page[AliasMovePublic]):
    data: list[AliasMovePublic] = Field(description="Newest first.")


class PredictRequest(RequestBody):
    """Rows to predict from, in the format of the model's training data."""

    verbatim = frozenset({"rows"})  # read as CSV text, a whole float as an integer's
    rows: list[dict[str, Any]] = Field(
        ..., min_length=1, description="Objects of column: value (numbers, text, null)."
    )
    horizon: int | None = Field(
        None,
        ge=1,
        description="Forecasters: the next `horizon` times after the last row (at most the "
        "model's horizon). Without it: a forecast from every window of the rows.",
    )
    history: bool = Field(
        False,
        strict=True,  # true or false: "yes", 1 or "0" are refused, not guessed at
        description="Also answer `history`: the series the predictions continue (for "
        "forecasters, the target as the model read it from these rows), to draw the forecast "
        "against it.",
    )


class HistoryPublic(BaseModel):
    target: str = Field(description="The target's name (the forecasters' reports name it so).")
    time: list[Any] = Field(description="ISO times of the rows read (gaps filled in included).")
    value: list[float | None] = Field(description="The target at each time; null: missing.")


class PredictionPublic(BaseModel):
    model: str
    version: int
    reference: str = Field(description="The reference as asked (name@alias, name/3, name).")
    rows: int = Field(description="How many predictions (the length of each column).")
    predictions: dict[str, list[Any]] = Field(description="Columns of equal length.")
    history: HistoryPublic | None = Field(
        None,
        description="Only with `history: true`: the series the predictions continue; null when "
        "the model's pipeline has none (a classifier).",
    )


class PredictionJobCreate(RequestBody):
    """Rows, or a file of the project's data folder, to predict from in a job: exactly one of
    ``rows`` and ``inputs`` (declared as a ``oneOf``; the service refuses neither and both)."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["rows"]}, {"required": ["inputs"]}]},
    )
    # Absent, never null: a null beside the other would pass for "exactly one".
    rows: list[dict[str, Any]] = Field(None, min_length=1)  # type: ignore[arg-type]
    inputs: str = Field(  # type: ignore[assignment]
        None, min_length=1, max_length=1000, description="A CSV file in the project's data folder."
    )
    horizon: int | None = Field(None, ge=1)


class PredictionJobPublic(BaseModel):
    id: int = Field(description="The job's id (an experiment of kind prediction).")
    model: str
    version: int
    reference: str
    status: str
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    rows: int | None = Field(description="Predictions made, once completed.")
    predictions: dict[str, list[Any]] | None = Field(
        description="Once completed: the first `limit` predictions (see `download` for all)."
    )
    download: str | None = Field(description="Path of the whole predictions.csv, once completed.")

    @classmethod
    def of(
        cls, record: ExperimentRecord, predictions: dict[str, list[Any]] | None = None
    ) -> PredictionJobPublic:
        config, result = record.config, record.result or {}
        file = result.get("file") if record.status == COMPLETED else None
        return cls(
            id=record.id, model=config["model"], version=config["version"],
            reference=config.get("reference", config["model"]), status=record.status,
            error=record.error, created_at=record.created_at, started_at=record.started_at,
            finished_at=record.finished_at, rows=result.get("rows"), predictions=predictions,
            download=f"/api/v1/runs/{record.id}/artifacts/{file}" if file else None,
        )  # fmt: skip


class PredictionJobsPublic(Page[PredictionJobPublic]):
    data: list[PredictionJobPublic] = Field(description="Newest first, without predictions.")
