"""`TimeSeriesPipeline`: what every forecasting pipeline shares (the seed's
``BaseTimeSeriesPipeline``).

A subclass loads its table (:meth:`load_frame`) and names its baselines; this class does the
rest under DESIGN.md section 4's protocol:

1. chronological train / validation / test split; windows are labelled inside their part;
2. the feature scaler and the target scaler are fitted on training rows only;
3. the model predicts the *change* of the (optionally log-) target over the horizon, so a
   model that learns nothing predicts persistence instead of something worse;
4. early stopping on the validation part, never on the test part;
5. test predictions are scored in the original units beside every baseline, plotted, and
   saved with the model as one artifact that predicts again exactly from raw rows.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar, cast

import numpy as np
from pydantic import Field

from azuraforge.apps.base import Pipeline, RunResult, TrainingConfig, train_model
from azuraforge.core import Tensor, manual_seed, nn
from azuraforge.errors import InvalidParameterError
from azuraforge.learn import RunContext, Trainer, predict
from azuraforge.learn.artifact import ModelArtifact, fingerprint
from azuraforge.learn.metrics import regression_report
from azuraforge.learn.reports import Report, plots
from azuraforge.learn.timeseries import (
    StandardScaler,
    Windows,
    chronological_split,
    make_windows,
)


@dataclass(frozen=True)
class Frame:
    """A time-indexed table: ``features`` (rows, columns) and the raw ``target`` (rows,)."""

    times: np.ndarray
    features: np.ndarray
    feature_names: list[str]
    target: np.ndarray


class ForecastConfig(TrainingConfig):
    """Settings shared by forecasting pipelines (the training settings, then these)."""

    horizon: int = Field(1, ge=1, description="Steps ahead to forecast.")
    sequence_length: int = Field(24, ge=2, description="Past steps the model reads.")
    hidden_size: int = Field(64, ge=1, description="LSTM hidden units.")
    num_layers: int = Field(1, ge=1, le=4, description="Stacked LSTM layers.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout between LSTM layers.")
    epochs: int = Field(12, ge=1, description="Most epochs to train.")
    batch_size: int = Field(128, ge=1, description="Windows per batch.")
    learning_rate: float = Field(2e-3, gt=0.0, description="Adam learning rate.")
    train_fraction: float = Field(0.7, gt=0.0, lt=1.0, description="Oldest share: training.")
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="Next share: validation.")
    max_rows: int | None = Field(None, ge=100, description="Use only the first rows (quick runs).")
    blend: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Weight of the model's change forecast against the training-mean change "
        "(0: the naive forecast, 1: the model alone); None: chosen on the validation part.",
    )


class SequenceRegressor(nn.Module):
    """LSTM over the window, then a linear head on the last hidden state."""

    def __init__(self, features: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        self.lstm = nn.LSTM(features, hidden_size, num_layers=num_layers, dropout=dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.head(self.lstm(x))
        return out


ForecastT = TypeVar("ForecastT", bound=ForecastConfig)


class TimeSeriesPipeline(Pipeline[ForecastT]):
    """Base of forecasting pipelines; subclasses define :meth:`load_frame` and
    :meth:`baselines`, and may set ``log_target``."""

    Config: ClassVar[type[ForecastConfig]] = ForecastConfig
    log_target: ClassVar[bool] = False
    # Classical MASE (in-sample one-step naive scale) on the target itself; meaningless for
    # prices over decades, where a subclass reports it on log prices instead.
    mase_on_target: ClassVar[bool] = True
    target_name: ClassVar[str] = "target"
    target_unit: ClassVar[str] = ""

    @abstractmethod
    def load_frame(self, config: ForecastT, source: Path | None = None) -> Frame:
        """The full table (from ``source``, a raw CSV of the same shape, when given)."""

    @abstractmethod
    def baselines(
        self, frame: Frame, rows: np.ndarray, config: ForecastT, train: slice
    ) -> dict[str, np.ndarray]:
        """Naive forecasts of ``frame.target[rows]`` using only what is known
        ``config.horizon`` steps earlier (and, for fitted baselines, the ``train`` rows)."""

    def extra_metrics(
        self,
        frame: Frame,
        train: slice,
        actual: np.ndarray,
        predicted: np.ndarray,
        baselines: dict[str, np.ndarray],
    ) -> dict[str, dict[str, float]]:
        """Rows a subclass adds to the test table (each with its own baseline)."""
        return {}

    # ---- the target in model space ----------------------------------------------------
    def _level(self, target: np.ndarray) -> np.ndarray:
        return np.log(target) if self.log_target else target.astype(np.float64)

    def _unlevel(self, level: np.ndarray) -> np.ndarray:
        return np.exp(level) if self.log_target else level

    def _changes(self, frame: Frame, horizon: int) -> np.ndarray:
        """Change of the level over ``horizon`` ending at each row (NaN where unknown)."""
        level = self._level(frame.target)
        change = np.full(len(level), np.nan)
        change[horizon:] = level[horizon:] - level[:-horizon]
        return change

    # ---- run ------------------------------------------------------------------------------
    def run(self, config: ForecastT, ctx: RunContext) -> RunResult:
        manual_seed(config.seed)
        frame = self._checked(_first_rows(self.load_frame(config), config.max_rows))
        split = chronological_split(len(frame.target), config.train_fraction, config.val_fraction)
        feature_scaler = StandardScaler().fit(frame.features[split.train])
        features = feature_scaler.transform(frame.features).astype(np.float32)
        changes = self._changes(frame, config.horizon)
        train_rows = np.arange(split.train.start + config.horizon, split.train.stop)
        target_scaler = StandardScaler().fit(changes[train_rows, None])
        scaled = target_scaler.transform(np.nan_to_num(changes)[:, None])[:, 0].astype(np.float32)
        windows = {
            name: make_windows(features, scaled, config.sequence_length, config.horizon,
                               rows=getattr(split, name))
            for name in ("train", "val", "test")
        }  # fmt: skip
        model = SequenceRegressor(
            features.shape[1], config.hidden_size, config.num_layers, config.dropout
        )
        train, val = windows["train"], windows["val"]
        trainer = train_model(
            model, nn.MSELoss(), (train.x, train.y[:, None]), (val.x, val.y[:, None]), config,
            ctx, clip_grad_norm=1.0,
        )  # fmt: skip
        if config.blend is None:
            blend = self._fit_blend(trainer, frame, windows["val"], config, target_scaler)
            config = config.model_copy(update={"blend": blend})
        test = windows["test"]
        predicted = self._forecast(
            trainer.predict(test.x)[:, 0], frame, test, config, target_scaler
        )
        actual = frame.target[test.target_rows].astype(np.float64)
        baselines = self.baselines(frame, test.target_rows, config, split.train)
        train_target = frame.target[split.train] if self.mase_on_target else None
        metrics = regression_report(actual, predicted, baselines, train=train_target)
        metrics.update(self.extra_metrics(frame, split.train, actual, predicted, baselines))
        artifact = ModelArtifact(
            model=model,
            preprocessing={"features": feature_scaler, "target": target_scaler},
            features=frame.feature_names,
            config=config.model_dump(mode="json"),
            metrics=metrics,
            data_fingerprint=fingerprint(frame.features[split.train], frame.target[split.train]),
            seed=config.seed,
            pipeline=self.name,
        )
        directory = ctx.output_dir
        predictions = directory / "test_predictions.csv"
        table = {"actual": actual, "model": predicted, **baselines}
        _write_predictions(predictions, frame.times[test.target_rows], table)
        report = self._report(directory, frame, test, actual, predicted, baselines, metrics,
                              trainer, config)  # fmt: skip
        note = (
            f"test rows: {len(actual)} ({frame.times[test.target_rows[0]]} to "
            f"{frame.times[test.target_rows[-1]]}), epochs run: {len(trainer.history['loss'])}, "
            f"blend chosen on validation: {config.blend:.2f}"
        )
        return self.finish(ctx, artifact, report, trainer, note, files=(predictions,))

    def _checked(self, frame: Frame) -> Frame:
        if np.isnan(frame.features).any() or np.isnan(frame.target).any():
            raise InvalidParameterError(f"{self.name}: the data holds missing values")
        if self.log_target and (frame.target <= 0).any():
            raise InvalidParameterError(f"{self.name}: a log target needs values > 0")
        return frame

    def _fit_blend(
        self,
        trainer: Trainer,
        frame: Frame,
        val: Windows,
        config: ForecastT,
        target_scaler: StandardScaler,
    ) -> float:
        """The blend weight with the lowest MAE on the validation part (never the test)."""
        scaled = trainer.predict(val.x)[:, 0]
        actual = frame.target[val.target_rows]
        weights = np.linspace(0.0, 1.0, 21)
        errors = [
            np.abs(self._forecast(scaled, frame, val, config, target_scaler, w) - actual).mean()
            for w in weights
        ]
        return float(weights[int(np.argmin(errors))])

    def _forecast(
        self,
        scaled: np.ndarray,
        frame: Frame,
        windows: Windows,
        config: ForecastT,
        target_scaler: StandardScaler,
        blend: float | None = None,
    ) -> np.ndarray:
        """Forecasts in the target's units from the model's scaled changes; ``blend``
        (default ``config.blend``) shrinks them toward the training-mean change."""
        weight = config.blend if blend is None else blend
        if weight is None:
            raise InvalidParameterError("_forecast needs a blend weight (none chosen yet)")
        change = target_scaler.inverse_transform(weight * scaled.astype(np.float64), columns=0)
        last_known = self._level(frame.target)[windows.target_rows - config.horizon]
        result: np.ndarray = self._unlevel(last_known + change)
        return result

    # ---- report ---------------------------------------------------------------------------
    def _report(
        self,
        directory: Path,
        frame: Frame,
        test: Windows,
        actual: np.ndarray,
        predicted: np.ndarray,
        baselines: dict[str, np.ndarray],
        metrics: dict[str, dict[str, float]],
        trainer: Trainer,
        config: ForecastT,
    ) -> Report:
        report = Report(directory, f"{self.name}: {self.description}")
        report.text(
            f"Target: **{self.target_name}** {config.horizon} step(s) ahead"
            f"{' (log scale inside the model)' if self.log_target else ''}. Chronological split "
            f"{config.train_fraction:.0%} / {config.val_fraction:.0%} / rest; scalers fitted on "
            f"the training part only; early stopping on validation. The forecast change is "
            f"blended with the training-mean change at weight {config.blend:.2f} (chosen on "
            f"the validation part, 1 = the model alone). Test rows: {len(actual)}."
            + (
                " **The weight is 0: the model showed no skill on validation, so the 'model' "
                "column is the training-mean-change forecast.**"
                if config.blend == 0
                else ""
            )
        )
        report.table("Test set (model beside each baseline)", metrics)
        times, errors = frame.times[test.target_rows], predicted - actual
        figures = directory / "plots"
        lines = {"model": predicted, **baselines}
        drawn = [
            ("Training and validation loss",
             plots.loss_curves(trainer.history, figures / "loss.png")),
            ("Actual vs predicted",
             plots.actual_vs_predicted(times, actual, lines, figures / "actual_vs_predicted.png")),
            ("True vs predicted", plots.scatter(actual, predicted, figures / "scatter.png")),
            ("Error histogram", plots.error_histogram(errors, figures / "errors.png")),
            ("Residuals over time", plots.residuals(times, errors, figures / "residuals.png")),
        ]  # fmt: skip
        for caption, path in drawn:
            report.image(caption, path)
        return report

    # ---- predict from a saved artifact --------------------------------------------------
    def predict(self, artifact: ModelArtifact, inputs: Path) -> dict[str, np.ndarray]:
        """A forecast from every window of ``sequence_length`` rows of ``inputs`` (raw rows in
        the training data's format), including the one ending at the last row: columns
        ``last_input_time`` (the window's last row), ``steps_ahead`` and ``forecast`` (in the
        target's units)."""
        config = self.make_config(artifact.config)
        frame = self._checked(self.load_frame(config, source=inputs))
        if frame.feature_names != artifact.features:
            raise InvalidParameterError(
                f"{inputs} has features {frame.feature_names}, the model was trained on "
                f"{artifact.features}"
            )
        length = config.sequence_length
        if len(frame.target) < length:
            raise InvalidParameterError(
                f"{inputs} has {len(frame.target)} rows; the model reads windows of {length}"
            )
        features = artifact.preprocessing["features"].transform(frame.features).astype(np.float32)
        ends = np.arange(length - 1, len(features))
        view = np.lib.stride_tricks.sliding_window_view(features, length, axis=0)
        x = np.ascontiguousarray(view[ends - length + 1].transpose(0, 2, 1))
        windows = Windows(x=x, y=np.zeros(len(ends)), target_rows=ends + config.horizon)
        # Windows whose target lies inside the input, then the last `horizon` ones that look
        # past its end: batched apart, the in-sample ones reproduce a run's test predictions
        # bit for bit (BLAS results depend on the batch they are computed in).
        split_at = max(len(x) - config.horizon, 0)
        scaled = np.concatenate([
            predict(artifact.model, part, config.batch_size)[:, 0]
            for part in (x[:split_at], x[split_at:]) if len(part)
        ])  # fmt: skip
        target_scaler = cast(StandardScaler, artifact.preprocessing["target"])
        return {
            "last_input_time": frame.times[ends],
            "steps_ahead": np.full(len(ends), config.horizon),
            "forecast": self._forecast(scaled, frame, windows, config, target_scaler),
        }


def _write_predictions(path: Path, times: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    """One row per test time: the actual value, the model's forecast and each baseline's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write(",".join(["time", *columns]) + "\n")
        for i, time in enumerate(times):
            f.write(",".join([str(time), *(repr(float(c[i])) for c in columns.values())]) + "\n")


def _first_rows(frame: Frame, rows: int | None) -> Frame:
    """The first ``rows`` rows (a quick training run); all of them for ``None``."""
    if rows is None:
        return frame
    return Frame(
        frame.times[:rows], frame.features[:rows], frame.feature_names, frame.target[:rows]
    )
