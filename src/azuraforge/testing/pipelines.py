"""`check_pipeline`: the contract every pipeline keeps, built-in or plugin.

The CLI, the API and the dashboard rely on it: settings are described and validated by the
``Config`` schema, a run reports metrics through its context and scores beside a baseline,
its artifact reloads and predicts the same way twice from raw rows, and a cancelled run
stops and says so. Each check raises :class:`PipelineContractError` with what is wrong and
what to do; :func:`check_pipeline` runs them all and reports every failure at once.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult
from azuraforge.errors import InvalidParameterError
from azuraforge.learn import LocalContext
from azuraforge.learn.artifact import ModelArtifact

AnyPipeline = type[Pipeline[Any]]
T = TypeVar("T")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_UNKNOWN = "no_such_setting_anywhere"


class PipelineContractError(AssertionError):
    """A pipeline breaks the contract; the message lists every failed check."""


def check_pipeline(
    pipeline: AnyPipeline,
    settings: Mapping[str, Any] | None = None,
    *,
    inputs: str | Path | None = None,
    workdir: str | Path | None = None,
) -> None:
    """Check that ``pipeline`` keeps the contract the CLI, API and dashboard rely on.

    The checks: the declaration (name usable as an entry-point name, one-line description,
    a ``PipelineConfig``); the config schema (JSON Schema, every field described); a valid
    default for every setting not declared required; unknown settings refused; the config
    surviving a JSON round trip (as it does in an artifact); a run on ``settings`` that logs
    metrics and scores each metric beside a baseline; its artifact reloading with the same
    pipeline, config and metrics; ``predict`` on the raw rows in ``inputs`` giving the same
    named columns twice, and other ones with other weights (when the pipeline supports
    predict); and a run whose context is cancelled stopping and saying so.

    Parameters
    ----------
    pipeline
        The pipeline class.
    settings
        Settings for a run of a few seconds (e.g. fewer rows, one epoch) under which the
        model matters to the predictions (a forecaster that may fall back on a naive
        forecast is checked with the model's forecast alone).
    inputs
        A file of raw rows in the format ``predict`` takes; needed when the pipeline
        overrides :meth:`Pipeline.predict`.
    workdir
        Where the runs write; a temporary folder (removed afterwards) by default.

    Raises
    ------
    PipelineContractError
        Listing every check that failed (an ``AssertionError``, so test runners show it as a
        failure).
    """
    if not (isinstance(pipeline, type) and issubclass(pipeline, Pipeline)):
        raise PipelineContractError(f"{pipeline!r} is not a subclass of azuraforge.apps.Pipeline")
    with _folder(workdir) as folder:
        failures = _failures(pipeline, dict(settings or {}), inputs, folder)
    if failures:
        listed = "\n".join(f"- {failure}" for failure in failures)
        name = getattr(pipeline, "name", pipeline.__name__)
        raise PipelineContractError(f"pipeline {name!r} breaks the contract:\n{listed}")


@contextmanager
def _folder(workdir: str | Path | None) -> Iterator[Path]:
    if workdir is not None:
        yield Path(workdir)
        return
    with tempfile.TemporaryDirectory(prefix="check-pipeline-") as folder:
        yield Path(folder)


def _failures(
    pipeline: AnyPipeline, settings: dict[str, Any], inputs: str | Path | None, folder: Path
) -> list[str]:
    failures: list[str] = []

    def attempt(title: str, check: Callable[..., T], *args: Any) -> T | None:
        try:
            return check(*args)
        except PipelineContractError as e:
            failures.append(f"{title}: {e}")
        except Exception as e:  # the pipeline's own code failed inside the check
            failures.append(f"{title}: raised {type(e).__name__}: {e}")
        return None

    attempt("declaration", check_declaration, pipeline)
    attempt("config schema", check_config_schema, pipeline)
    attempt("defaults", check_defaults, pipeline, settings)
    attempt("unknown settings", check_unknown_settings_refused, pipeline)
    config = attempt("the given settings", pipeline.make_config, settings)
    if config is None:
        return failures
    attempt("config round trip", check_config_round_trip, pipeline, config)
    result = attempt("run", check_run, pipeline, config, folder / "run")
    artifact_dir = (
        None if result is None else attempt("artifact", check_artifact, pipeline, result)
    )
    if artifact_dir is not None and pipeline.predict is not Pipeline.predict:
        attempt("predict", check_predict, pipeline, artifact_dir, inputs)
    attempt("cancellation", check_cancellation, pipeline, config, folder / "cancelled")
    return failures


def check_declaration(pipeline: AnyPipeline) -> None:
    """An entry-point name, a one-line description and a config class."""
    name = getattr(pipeline, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PipelineContractError(
            f"name must be lower-case letters, digits, '.', '_' or '-' (it is the entry-point "
            f"name), got {name!r}"
        )
    if not pipeline.description.strip() or "\n" in pipeline.description.strip():
        raise PipelineContractError(
            "description must be one non-empty line (shown by `azuraforge pipelines`)"
        )
    if not (isinstance(pipeline.Config, type) and issubclass(pipeline.Config, PipelineConfig)):
        raise PipelineContractError("Config must subclass azuraforge.apps.base.PipelineConfig")


def check_config_schema(pipeline: AnyPipeline) -> None:
    """The config has a JSON Schema and every setting a description (the form's help)."""
    json.dumps(pipeline.Config.model_json_schema())
    bare = [name for name, field in pipeline.Config.model_fields.items() if not field.description]
    if bare:
        raise PipelineContractError(
            f"settings without a description: {', '.join(bare)}; declare them with "
            "Field(default, description=...) so the CLI, API and launch form can explain them"
        )


def check_defaults(pipeline: AnyPipeline, settings: Mapping[str, Any]) -> None:
    """Every setting has a valid default or is declared required (the CLI, API and form then
    ask for it): given only the required ones, the config validates."""
    fields = pipeline.Config.model_fields
    required = [name for name, field in fields.items() if field.is_required()]
    missing = [name for name in required if name not in settings]
    if missing:
        raise PipelineContractError(
            f"the settings given to check_pipeline lack the required {', '.join(missing)}"
        )
    defaults = {
        name: field.get_default(call_default_factory=True)
        for name, field in fields.items()
        if not field.is_required()
    }  # passed explicitly, so pydantic validates them
    try:
        pipeline.make_config({**defaults, **{name: settings[name] for name in required}})
    except InvalidParameterError as e:
        raise PipelineContractError(
            f"the defaults do not validate ({e}); give every optional setting a valid default"
        ) from e


def check_unknown_settings_refused(pipeline: AnyPipeline) -> None:
    """A misspelt setting is an error, never silently ignored."""
    try:
        pipeline.make_config({_UNKNOWN: 1})
    except InvalidParameterError as e:
        if _UNKNOWN in str(e):
            return
        raise PipelineContractError(
            f"the error for an unknown setting does not name it: {e}"
        ) from e
    raise PipelineContractError(
        f"the unknown setting {_UNKNOWN!r} was accepted; keep PipelineConfig's extra='forbid'"
    )


def check_config_round_trip(pipeline: AnyPipeline, config: PipelineConfig) -> None:
    """The config survives JSON, as it does inside an artifact and the platform's store."""
    stored = json.loads(json.dumps(config.model_dump(mode="json")))
    again = pipeline.make_config(stored)
    if again != config:
        raise PipelineContractError(
            f"the config read back from JSON differs: {again!r} vs {config!r}"
        )


def check_run(pipeline: AnyPipeline, config: PipelineConfig, folder: Path) -> RunResult:
    """A run returns a :class:`RunResult`, logs metrics, and scores beside a baseline."""
    ctx = LocalContext(output_dir=folder)
    result = pipeline().run(config, ctx)
    if not isinstance(result, RunResult):
        raise PipelineContractError(f"run() returned {type(result).__name__}, not a RunResult")
    if not ctx.metrics:
        raise PipelineContractError(
            "the run logged no metrics through ctx.log_metrics, so nothing shows while it "
            "runs; train with train_model or the RunLogger callback"
        )
    check_metrics(result.metrics)
    return result


def check_metrics(metrics: Mapping[str, Mapping[str, float]]) -> None:
    """Each metric has a ``model`` value and at least one baseline beside it, all numbers."""
    if not metrics:
        raise PipelineContractError("the run returned no test metrics")
    for name, columns in metrics.items():
        if "model" not in columns or len(columns) < 2:
            raise PipelineContractError(
                f"metric {name!r} has columns {sorted(columns)}: it needs 'model' and at least "
                "one baseline (a number without its baseline is not a result)"
            )
        for column, value in columns.items():
            if not isinstance(value, int | float | np.number) or isinstance(value, bool):
                raise PipelineContractError(
                    f"metric {name!r}, column {column!r}: {value!r} is not a number"
                )


def check_artifact(pipeline: AnyPipeline, result: RunResult) -> Path | None:
    """The artifact (if any) reloads naming its pipeline, with a valid config and the run's
    metrics; returns its directory."""
    if result.artifact_dir is None:
        if pipeline.predict is not Pipeline.predict:
            raise PipelineContractError(
                "the pipeline supports predict but the run saved no artifact_dir"
            )
        return None
    artifact = ModelArtifact.load(result.artifact_dir)
    if artifact.pipeline != pipeline.name:
        raise PipelineContractError(
            f"the artifact names pipeline {artifact.pipeline!r}, not {pipeline.name!r}"
        )
    pipeline.make_config(artifact.config)
    if not _same_numbers(artifact.metrics, result.metrics):
        raise PipelineContractError("the artifact's metrics differ from the ones the run returned")
    if result.training is not None and artifact.training != result.training:
        raise PipelineContractError(
            f"the artifact records training {artifact.training}, the run returned "
            f"{result.training}; save it after Pipeline.finish records it"
        )
    return result.artifact_dir


def _same_numbers(saved: Any, returned: Any) -> bool:
    if isinstance(saved, Mapping) and isinstance(returned, Mapping):
        return saved.keys() == returned.keys() and all(
            _same_numbers(saved[key], returned[key]) for key in saved
        )
    both_nan = math.isnan(saved) and math.isnan(returned)
    return both_nan or math.isclose(saved, returned, rel_tol=1e-12, abs_tol=0.0)


def check_predict(pipeline: AnyPipeline, artifact_dir: Path, inputs: str | Path | None) -> None:
    """Predict from the saved artifact gives named, equal-length columns, the same from two
    loads, and uses the saved model (other weights give other predictions)."""
    if inputs is None:
        raise PipelineContractError(
            "the pipeline supports predict: pass inputs=, a file of raw rows in the format "
            "predict takes, to check it"
        )
    inputs = Path(inputs)
    first = pipeline().predict(ModelArtifact.load(artifact_dir), inputs)
    lengths = {name: np.shape(values) for name, values in first.items()}
    if not first or len({*lengths.values()}) != 1 or len(next(iter(lengths.values()))) != 1:
        raise PipelineContractError(
            f"predict must return named 1-D columns of one length, got {lengths}"
        )
    if next(iter(lengths.values()))[0] == 0:
        raise PipelineContractError(f"predict returned no rows for {inputs}")
    if not _same_columns(first, pipeline().predict(ModelArtifact.load(artifact_dir), inputs)):
        raise PipelineContractError("two loads of the same artifact predict different values")
    if _same_columns(first, pipeline().predict(_scrambled(artifact_dir), inputs)):
        raise PipelineContractError(
            "predict gives the same values when the saved model's weights are replaced: it "
            "must predict with artifact.model"
        )


def _same_columns(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> bool:
    return first.keys() == second.keys() and all(
        np.array_equal(values, second[name], equal_nan=values.dtype.kind == "f")
        for name, values in first.items()
    )


def _scrambled(artifact_dir: Path) -> ModelArtifact:
    """The artifact with random weights in place of the trained ones."""
    artifact = ModelArtifact.load(artifact_dir)
    rng = np.random.default_rng(0)
    for parameter in artifact.model.parameters():
        parameter.data = rng.normal(size=parameter.data.shape).astype(parameter.data.dtype)
    return artifact


def check_cancellation(pipeline: AnyPipeline, config: PipelineConfig, folder: Path) -> None:
    """A run whose context asks it to stop ends soon and returns a cancelled result."""
    ctx = LocalContext(output_dir=folder)
    ctx.cancel()
    result = pipeline().run(config, ctx)
    if not result.cancelled:
        raise PipelineContractError(
            "a run whose ctx.should_stop() is true must stop soon and return RunResult("
            "training=TrainingSummary('cancelled', ...)); train_model and Pipeline.finish "
            "do both"
        )
