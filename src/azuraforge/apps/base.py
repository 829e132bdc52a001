"""The pipeline contract: a validated ``Config``, ``run(config, ctx)``, optional ``predict``.

A pipeline subclasses :class:`Pipeline`, names itself, and declares a Pydantic ``Config``
with defaults. The CLI and the API validate settings against it (unknown keys are errors)
and show its JSON Schema; ``run`` receives the validated config and a
:class:`~azuraforge.learn.RunContext`, and returns a :class:`RunResult`.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from azuraforge.core import Generator, Tensor, nn, optim, use_generator
from azuraforge.errors import InvalidParameterError, PluginError
from azuraforge.learn import (
    Callback,
    EarlyStopping,
    ProgressBar,
    RunLogger,
    Trainer,
    TrainingSummary,
)
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.learn.context import RunContext
from azuraforge.learn.datasets import rows_table, write_csv
from azuraforge.learn.reports import Report


class PipelineConfig(BaseModel):
    """Base of every pipeline's ``Config``: unknown settings are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrainingConfig(PipelineConfig):
    """The settings the shared training code reads (:func:`train_model`), declared once.

    A pipeline that trains with :func:`train_model` derives its ``Config`` from this class and
    may change a default by declaring the field again (``epochs: int = Field(6, ge=1)``).
    """

    epochs: int = Field(10, ge=1, description="Most epochs to train.")
    patience: int = Field(3, ge=1, description="Epochs without validation gain before stopping.")
    batch_size: int = Field(128, ge=1, description="Examples per batch.")
    learning_rate: float = Field(1e-3, gt=0.0, description="Adam learning rate.")
    seed: int = Field(0, ge=0, description="Seed of initialisation, shuffling and dropout.")


ConfigT = TypeVar("ConfigT", bound=PipelineConfig)

SETTINGS_CONFLICT = "settings_conflict"
"""The error type of a ``Config`` validator that refuses a combination of settings (raise
``pydantic_core.PydanticCustomError(SETTINGS_CONFLICT, message)``): the message is shown as
it is, naming the settings and what to change."""


@dataclass
class RunResult:
    """What a run hands back: test metrics beside baselines, where its files are, and how
    training ended (``training.status`` is ``completed`` or ``cancelled``)."""

    metrics: dict[str, dict[str, float]]
    artifact_dir: Path | None = None
    report_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    training: TrainingSummary | None = None

    @property
    def cancelled(self) -> bool:
        """Whether the run was cancelled (its model is only partly trained)."""
        return self.training is not None and self.training.status == "cancelled"


@dataclass(frozen=True)
class History:
    """The observed series a forecast continues, as the model read it from the rows it was
    given: ``values`` of the target named ``name`` at ``times`` (NaN where a value was
    missing; a pipeline that fills gaps in marks the filled ones NaN too)."""

    name: str
    times: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class RowsRequest:
    """One request of :meth:`Pipeline.predict_rows_batch`: its raw rows, its ``horizon`` and
    whether it asks for the series its predictions continue (``history``)."""

    rows: Sequence[Mapping[str, Any]]
    horizon: int | None = None
    history: bool = False


RowsAnswer = tuple[dict[str, np.ndarray], History | None]
"""The predictions of one request of rows and, if asked and the pipeline has one, its series."""


class Pipeline(ABC, Generic[ConfigT]):
    """Base class of pipelines. Subclasses set ``name``, ``description`` and ``Config``, and
    name the config class as the type parameter, so ``run`` receives it typed.

    Examples
    --------
    >>> class EchoConfig(PipelineConfig):
    ...     value: float = 1.0
    >>> class Echo(Pipeline[EchoConfig]):
    ...     name = "echo"
    ...     description = "Returns its setting as a metric."
    ...     Config = EchoConfig
    ...     def run(self, config: EchoConfig, ctx):
    ...         return RunResult(metrics={"value": {"model": config.value}})
    >>> Echo.make_config({"value": "2.5"}).value
    2.5
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Config: ClassVar[type[PipelineConfig]] = PipelineConfig

    @classmethod
    def make_config(cls, settings: dict[str, Any] | None = None) -> ConfigT:
        """Validate ``settings`` against ``Config``; one clear error lists what is wrong."""
        try:
            return cast(ConfigT, cls.Config(**(settings or {})))
        except ValidationError as e:
            problems = "; ".join(_describe(err, cls) for err in e.errors())
            raise InvalidParameterError(f"bad settings for {cls.name}: {problems}") from None

    @abstractmethod
    def run(self, config: ConfigT, ctx: RunContext) -> RunResult:
        """Train and evaluate; log through ``ctx``; return the test metrics and files."""

    def finish(
        self,
        ctx: RunContext,
        artifact: ModelArtifact,
        report: Report,
        trainer: Trainer,
        note: str,
        files: tuple[Path, ...] = (),
        statements: Sequence[str] = (),
    ) -> RunResult:
        """Record how training ended in ``artifact`` and at the top of ``report``, write the
        report, save the artifact under ``ctx.output_dir/artifact``, log both with any other
        ``files`` and the report's plots, and return the run's result (metrics from the
        artifact) with ``note`` and the ``statements`` its report makes, so the terminal says
        what the report says."""
        training = trainer.summary()
        artifact.training = training
        report.notice(training.describe())
        written = report.write()
        directory = artifact.save(ctx.output_dir / "artifact")
        for path in (directory, *files, *report.images, written):
            ctx.log_artifact(path)
        return RunResult(
            metrics=artifact.metrics,
            artifact_dir=directory,
            report_path=written,
            notes=[note, *statements],
            training=training,
        )

    def predict(self, artifact: ModelArtifact, inputs: Path) -> dict[str, np.ndarray]:
        """Predictions from a saved artifact for the raw rows in ``inputs`` (a CSV file), as
        named columns of equal length (the CLI writes them as CSV)."""
        raise PluginError(f"pipeline {self.name!r} does not support predict")

    def predict_rows(
        self,
        artifact: ModelArtifact,
        rows: Sequence[Mapping[str, Any]],
        *,
        horizon: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Predictions for raw rows held in memory (objects of column: value, in the format
        of :meth:`predict`'s files): what a served model answers.

        By default the rows are written to a temporary CSV file read by :meth:`predict`, so a
        pipeline that only defines :meth:`predict` serves unchanged; built-in pipelines read
        the rows in memory through the same parsing code. ``horizon`` is for forecasters
        (the next times after the last row); others refuse it.

        Raises
        ------
        InvalidParameterError
            For a ``horizon`` the pipeline does not take.
        """
        if horizon is not None:
            raise InvalidParameterError(
                f"pipeline {self.name!r} does not forecast a horizon; leave horizon out"
            )
        with tempfile.TemporaryDirectory(prefix="azuraforge-rows-") as folder:
            path = Path(folder) / "rows.csv"
            table = rows_table(rows)
            columns = dict(zip(table.column_names, zip(*table.rows, strict=True), strict=True))
            with path.open("w", encoding="utf-8") as handle:
                write_csv(handle, {name: list(values) for name, values in columns.items()})
            return self.predict(artifact, path)

    def predict_rows_with_history(
        self,
        artifact: ModelArtifact,
        rows: Sequence[Mapping[str, Any]],
        *,
        horizon: int | None = None,
    ) -> tuple[dict[str, np.ndarray], History | None]:
        """:meth:`predict_rows`, and the series its predictions continue (to draw a forecast
        against its history), read from the same rows.

        The default has no series (``None``): a pipeline whose predictions are not a time
        series, or one that does not say, serves unchanged. Forecasters override it to read
        the rows once for both.
        """
        return self.predict_rows(artifact, rows, horizon=horizon), None

    def predict_rows_batch(
        self, artifact: ModelArtifact, requests: Sequence[RowsRequest]
    ) -> list[RowsAnswer | Exception]:
        """The answer of each request, in order: what :meth:`predict_rows_with_history`
        (``history``) or :meth:`predict_rows` gives it alone, or the error it raises, so that
        a request with a bad row fails alone.

        The default predicts the requests one by one. A pipeline whose model can take the
        requests' inputs at once overrides it to run one forward pass for them all; its
        answers may then differ from the lone ones in the last bits of the model's float
        arithmetic (the sums of a matrix product are grouped by the batch's size).
        """
        answers: list[RowsAnswer | Exception] = []
        for request in requests:
            try:
                answers.append(self._rows_answer(artifact, request))
            except Exception as e:  # raised to its own request only
                answers.append(e)
        return answers

    def _rows_answer(self, artifact: ModelArtifact, request: RowsRequest) -> RowsAnswer:
        if request.history:
            return self.predict_rows_with_history(artifact, request.rows, horizon=request.horizon)
        return self.predict_rows(artifact, request.rows, horizon=request.horizon), None


TrainingT = TypeVar("TrainingT", bound=TrainingConfig)


class TrainingPipeline(Pipeline[TrainingT]):
    """Base of pipelines that train a model: ``run`` draws initial weights, dropout and
    anything else from the default generator out of a generator of the run's own, seeded
    with ``config.seed``, around :meth:`train_and_score`. Several runs can then share a
    process (threads of a worker) and each repeats exactly.

    Examples
    --------
    >>> class InitialWeight(TrainingPipeline[TrainingConfig]):
    ...     name = "initial-weight"
    ...     Config = TrainingConfig
    ...     def train_and_score(self, config, ctx):
    ...         weight = float(nn.Linear(1, 1).weight.numpy()[0, 0])
    ...         return RunResult(metrics={"weight": {"model": weight}})
    >>> config = InitialWeight.make_config({"seed": 3})
    >>> first, again = (InitialWeight().run(config, ctx=None) for _ in range(2))
    >>> first.metrics == again.metrics
    True
    """

    Config: ClassVar[type[PipelineConfig]] = TrainingConfig

    def run(self, config: TrainingT, ctx: RunContext) -> RunResult:
        """:meth:`train_and_score` inside the run's own random state."""
        with use_generator(Generator(config.seed)):
            return self.train_and_score(config, ctx)

    @abstractmethod
    def train_and_score(self, config: TrainingT, ctx: RunContext) -> RunResult:
        """Train and evaluate (the model's random draws come from the run's generator); log
        through ``ctx``; return the test metrics and files."""


def train_model(
    model: nn.Module,
    loss: Callable[..., Tensor],
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    config: TrainingConfig,
    ctx: RunContext,
    clip_grad_norm: float | None = None,
) -> Trainer:
    """Fit with Adam(``config.learning_rate``) for up to ``config.epochs``, early stopping on
    the validation loss (``config.patience``), logging to ``ctx`` and, when a person is
    watching, a progress bar. Returns the trainer (history, stop reason)."""
    callbacks: list[Callback] = [EarlyStopping("val_loss", patience=config.patience)]
    callbacks.append(RunLogger(ctx))
    if ctx.show_progress:
        callbacks.append(ProgressBar())
    trainer = Trainer(
        model,
        loss,
        optim.Adam(model.parameters(), lr=config.learning_rate),
        callbacks=callbacks,
        batch_size=config.batch_size,
        seed=config.seed,
        clip_grad_norm=clip_grad_norm,
    )
    trainer.fit(train, val=val, epochs=config.epochs)
    return trainer


def _describe(error: Any, pipeline: type[Pipeline[Any]]) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "settings"
    if error["type"] == "extra_forbidden":
        known = ", ".join(pipeline.Config.model_fields)
        return f"unknown setting {where!r} (settings: {known})"
    if error["type"] == SETTINGS_CONFLICT:
        return str(error["msg"])
    if error["type"] == "missing":
        return f"{where} is required (--set {where}=...)"
    return f"{where}: {error['msg']} (got {error.get('input')!r})"
