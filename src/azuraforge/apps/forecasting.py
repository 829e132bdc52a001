"""`TimeSeriesPipeline`: a forecasting run composed of the pieces in
:mod:`azuraforge.learn.forecasting`.

A subclass loads its table (:meth:`load_frame`) and names its baselines; this class runs the
protocol of DESIGN.md section 4:

1. chronological train / validation / test split; windows are labelled inside their part;
2. the feature scaler and the target scaler are fitted on training rows only;
3. the model predicts the *change* of the (optionally log-) target over the horizon, so a
   model that learns nothing predicts persistence instead of something worse;
4. early stopping on the validation part, never on the test part;
5. test predictions are scored in the original units beside every baseline, plotted, and
   saved with the model as one artifact that predicts again exactly from raw rows.

A window labelled with row ``t`` reads rows up to ``t - horizon`` only, so no column of the
target's own row (a same-day maximum, say) ever reaches the model.
"""

from __future__ import annotations

import functools
import json
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import numpy as np
from pydantic import Field

from azuraforge.apps.base import (
    History,
    RowsAnswer,
    RowsRequest,
    RunResult,
    TrainingConfig,
    TrainingPipeline,
    train_model,
)
from azuraforge.apps.forecast_choice import (
    Anchors,
    check_blend_with,
    chosen_settings,
    saved_blend,
    selection_record,
    too_few_for_horizon,
    too_few_rows,
    verdicts,
)
from azuraforge.core import Tensor, nn
from azuraforge.errors import DataFormatError, InvalidParameterError, SchemaMismatchError
from azuraforge.learn import RunContext, Trainer, predict
from azuraforge.learn.artifact import ModelArtifact, fingerprint
from azuraforge.learn.datasets import CsvTable, FillReport, rows_table
from azuraforge.learn.forecasting import (
    DRIFT,
    Blend,
    ChangeTarget,
    Frequency,
    blended_change,
    choose_anchored_blend,
    forecast_report,
    lagged,
    score_forecast,
    seasonal_lag,
    write_predictions,
)
from azuraforge.learn.timeseries import (
    Split,
    StandardScaler,
    Windows,
    chronological_split,
    make_windows,
    window_inputs,
)

VALUE_BOUND = 1e15
"""The largest magnitude of a number a forecaster should read. Its square times 100 million
rows (1e38) still fits float32 (3.4e38), so no sum of squares overflows, in the model's float32
or in the statistics' float64 (1e308 overflowed training to NaN)."""

NO_MASE_SCALE = (
    " MASE is left out: the training part's target never changes between two observed "
    "consecutive rows, so its scale (the one-step naive MAE) is 0."
)
"""The report's sentence when the one-step MASE row is undefined."""


@dataclass(frozen=True)
class Frame:
    """A time-indexed table: ``features`` (rows, columns) and the raw ``target`` (rows,).

    ``observed`` marks the rows whose target value was in the data (``None``: all of them);
    a filled-in value is never a training label nor scored. ``dropped_rows`` counts the
    source rows consumed before the first row (1 when features are changes since the
    previous row) and ``inserted_rows`` the rows added for missing timestamps, so messages
    can speak of the file's rows. ``frequency`` is the step between rows when the loader
    determined it (from every row, before ``max_rows``), so later steps never infer it again.
    ``fill_report`` says what ``missing=fill`` inserted and filled (every row, before
    ``max_rows``); ``None`` with ``missing="refuse"``.
    """

    times: np.ndarray
    features: np.ndarray
    feature_names: list[str]
    target: np.ndarray
    observed: np.ndarray | None = None
    dropped_rows: int = 0
    inserted_rows: int = 0
    frequency: Frequency | None = None
    fill_report: FillReport | None = None

    def __len__(self) -> int:
        return len(self.target)

    def first_rows(self, rows: int | None) -> Frame:
        """The first ``rows`` rows (a quick training run); all of them for ``None``."""
        if rows is None:
            return self
        observed = None if self.observed is None else self.observed[:rows]
        return replace(
            self, times=self.times[:rows], features=self.features[:rows],
            target=self.target[:rows], observed=observed,
        )  # fmt: skip

    def observed_windows(self, windows: Windows) -> Windows:
        """The windows whose target row holds an observed value."""
        if self.observed is None:
            return windows
        keep = self.observed[windows.target_rows]
        return Windows(windows.x[keep], windows.y[keep], windows.target_rows[keep])


@dataclass(frozen=True)
class _Windows:
    """A frame's windows ready for the model: their last rows (``ends``), the inputs of those
    whose target lies inside the rows (``inside``, ``None`` when none does) and of those
    looking past their end (``future``), forecast in batches apart, and how forecasts are
    read back (``blend``; ``fitted``: the target's scaler and the anchors)."""

    frame: Frame
    ends: np.ndarray
    inside: np.ndarray | None
    future: np.ndarray
    blend: Blend
    fitted: tuple[StandardScaler, Anchors]


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
        "(0: the naive forecast, 1: the model alone); None: chosen on the validation part "
        "(the artifact records the chosen weight apart from its config). Reports say whether "
        "the user set it or the validation part chose it.",
    )
    blend_with: str | None = Field(
        None,
        description="The naive forecast the model's is blended with (weight 0: that forecast "
        "alone): 'drift' (the training-mean change), a seasonal baseline's name ('same "
        "month last year') or 'climatology'; None: chosen on the validation part with the "
        "weight, or drift when blend is set.",
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


class TimeSeriesPipeline(TrainingPipeline[ForecastT]):
    """Base of forecasting pipelines; subclasses define :meth:`load_frame` and
    :meth:`baselines`, and may set ``log_target`` and add :meth:`seasons` and
    :meth:`extra_metrics`."""

    Config: ClassVar[type[ForecastConfig]] = ForecastConfig
    log_target: ClassVar[bool] = False
    # Classical MASE (in-sample one-step naive scale) on the target itself; meaningless for
    # prices over decades, where a subclass reports it on log prices instead.
    mase_on_target: ClassVar[bool] = True

    @abstractmethod
    def load_frame(self, config: ForecastT, source: Path | CsvTable | None = None) -> Frame:
        """The full table (from ``source``, a raw CSV of the same shape or such a table already
        read, when given), free of NaN: refuse or fill missing values here, naming the file,
        row and column."""

    @abstractmethod
    def baselines(
        self, frame: Frame, rows: np.ndarray, config: ForecastT, train: slice
    ) -> dict[str, np.ndarray]:
        """Naive forecasts of ``frame.target[rows]`` using only what is known
        ``config.horizon`` steps earlier (and, for fitted baselines, the ``train`` rows)."""

    def baseline_notes(
        self, frame: Frame, rows: np.ndarray, config: ForecastT, train: slice
    ) -> list[str]:
        """Sentences for the report about the baselines of ``rows`` (one left out, say)."""
        return []

    def seasons(self, config: ForecastT) -> dict[str, int]:
        """Seasonal periods (name → rows) to report seasonal MASE for; none by default."""
        return {}

    def resolved_config(self, config: ForecastT, frame: Frame) -> ForecastT:
        """``config`` with any setting inferred from the data made explicit (the artifact
        saves it, so ``predict`` reads new rows the same way); unchanged by default."""
        return config

    def describe_target(self, config: ForecastT) -> str:
        """The target's name as the report shows it; ``"target"`` unless a subclass names it."""
        return "target"

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

    # ---- run ------------------------------------------------------------------------------
    def train_and_score(self, config: ForecastT, ctx: RunContext) -> RunResult:
        frame = self.load_frame(config).first_rows(config.max_rows)
        config = self.resolved_config(config, frame)
        split = chronological_split(len(frame), config.train_fraction, config.val_fraction)
        changes = self._change_target(config).changes(frame.target)
        feature_scaler, target_scaler = self._fit_scalers(frame, split, config, changes)
        windows = self._windows(frame, split, config, changes, (feature_scaler, target_scaler))
        model = SequenceRegressor(
            len(frame.feature_names), config.hidden_size, config.num_layers, config.dropout
        )
        train, val, test = windows
        anchors = Anchors(self.anchor_lags(config), self.fit_anchors(frame, split.train, config))
        check_blend_with(config, anchors, val.target_rows)  # before training, not after
        trainer = train_model(
            model, nn.MSELoss(), (train.x, train.y[:, None]), (val.x, val.y[:, None]), config,
            ctx, clip_grad_norm=1.0,
        )  # fmt: skip
        blend = self._blend(trainer, frame, val, config, (target_scaler, anchors))
        scaled = trainer.predict(test.x)[:, 0]
        predicted = self._forecast(
            scaled, frame, test.target_rows, config, (target_scaler, anchors), blend
        )
        _check_finite(predicted, frame)
        actual, baselines, metrics = self._scored(
            frame, split, test.target_rows, config, predicted
        )
        artifact = ModelArtifact(
            model=model,
            preprocessing={"features": feature_scaler, "target": target_scaler},
            features=frame.feature_names,
            config=config.model_dump(mode="json"),
            chosen_settings=chosen_settings(blend),
            selection=selection_record(blend, anchors),
            data={} if frame.fill_report is None else {"fill": asdict(frame.fill_report)},
            metrics=metrics,
            data_fingerprint=fingerprint(frame.features[split.train], frame.target[split.train]),
            seed=config.seed,
            pipeline=self.name,
        )
        times, directory = frame.times[test.target_rows], ctx.output_dir
        forecasts = {"model": predicted, **baselines}
        predictions = write_predictions(
            directory / "test_predictions.csv", times, {"actual": actual, **forecasts}
        )
        summary, statements = self._told(frame, split, config, blend, test.target_rows, metrics)
        title = f"{self.name}: {self.description}"
        report = forecast_report(
            directory, title, summary, metrics, times, actual, forecasts, trainer.history
        )
        note = (
            f"test rows: {len(actual)} ({times[0]} to {times[-1]}), epochs run: "
            f"{len(trainer.history['loss'])}, {blend.describe()}"
        )
        plain = [statement.replace("**", "") for statement in statements]
        return self.finish(ctx, artifact, report, trainer, note, (predictions,), plain)

    def _scored(
        self, frame: Frame, split: Split, rows: np.ndarray, config: ForecastT,
        predicted: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, dict[str, float]]]:  # fmt: skip
        """The test ``rows``' true values, the baselines' forecasts of them, and the test
        table: the model's ``predicted`` and each baseline's scores."""
        actual = frame.target[rows].astype(np.float64)
        baselines = self.baselines(frame, rows, config, split.train)
        train_target = frame.target[split.train] if self.mase_on_target else None
        observed = None if frame.observed is None else frame.observed[split.train]
        metrics = score_forecast(
            actual, predicted, baselines, train_target, self.seasons(config), observed
        )
        metrics.update(self.extra_metrics(frame, split.train, actual, predicted, baselines))
        return actual, baselines, metrics

    def _told(
        self, frame: Frame, split: Split, config: ForecastT, blend: Blend, rows: np.ndarray,
        metrics: dict[str, dict[str, float]],
    ) -> tuple[str, list[str]]:  # fmt: skip
        """The report's summary, and the statements about the result it ends with (what the
        data filled first): the terminal prints them too."""
        summary = self._summary(frame, split, config, blend, rows)
        if self.mase_on_target and "MASE" not in metrics:
            summary += NO_MASE_SCALE
        statements = verdicts(blend, metrics)
        if frame.fill_report is not None:
            statements.insert(0, frame.fill_report.describe())
        return summary + "".join(f" {statement}" for statement in statements), statements

    def _change_target(self, config: ForecastT) -> ChangeTarget:
        """The change of the (log) target over the horizon: what the model predicts."""
        return ChangeTarget(config.horizon, self.log_target)

    def _fit_scalers(
        self, frame: Frame, split: Split, config: ForecastT, changes: np.ndarray
    ) -> tuple[StandardScaler, StandardScaler]:
        """The feature scaler and the scaler of the target's ``changes``, on training rows
        only (and, for the changes, only rows whose target value was observed)."""
        rows = np.arange(split.train.start + config.horizon, split.train.stop)
        if frame.observed is not None:
            rows = rows[frame.observed[rows]]
        feature_scaler = StandardScaler().fit(frame.features[split.train])
        return feature_scaler, StandardScaler().fit(changes[rows, None])

    def _windows(
        self,
        frame: Frame,
        split: Split,
        config: ForecastT,
        changes: np.ndarray,
        scalers: tuple[StandardScaler, StandardScaler],
    ) -> tuple[Windows, Windows, Windows]:
        """Training, validation and test windows of scaled features labelled with scaled
        ``changes``; a window whose target value was not observed is left out."""
        feature_scaler, target_scaler = scalers
        features = feature_scaler.transform(frame.features).astype(np.float32)
        scaled = target_scaler.transform(np.nan_to_num(changes)[:, None])[:, 0].astype(np.float32)
        train, val, test = (
            frame.observed_windows(
                make_windows(features, scaled, config.sequence_length, config.horizon, rows=rows)
            )
            for rows in (split.train, split.val, split.test)
        )
        return train, val, test

    def _blend(
        self,
        trainer: Trainer,
        frame: Frame,
        val: Windows,
        config: ForecastT,
        fitted: tuple[StandardScaler, Anchors],
    ) -> Blend:
        """The user's blend, or, for what the user left unset, the anchor and weight with the
        lowest MAE on the validation part (anchors whose lag reaches before the validation
        rows' first are left out; a ``blend_with`` was checked by :func:`_check_blend_with`)."""
        anchors = fitted[1]
        anchor = config.blend_with or (DRIFT if config.blend is not None else None)
        if config.blend is not None and anchor is not None:
            return Blend(config.blend, "user", anchor)
        scaled = trainer.predict(val.x)[:, 0]
        rows = val.target_rows
        first = int(rows.min()) if len(rows) else 0
        names = [anchor] if anchor is not None else anchors.names()

        def candidate(anchor: str) -> Callable[[float], np.ndarray]:
            return lambda weight: self._forecast(
                scaled, frame, rows, config, fitted, Blend(weight, "", anchor)
            )

        candidates = {a: candidate(a) for a in names if anchors.lag(a) <= first}
        return choose_anchored_blend(candidates, frame.target[rows])

    def anchor_lags(self, config: ForecastT) -> dict[str, int]:
        """The forecasts the model's may be blended with that read the target some rows back
        (drift, then each seasonal-naive forecast of :meth:`seasons`), with the rows back
        each reads."""
        seasonal = {
            name: seasonal_lag(config.horizon, period)
            for name, period in self.seasons(config).items()
        }
        return {DRIFT: 0, **seasonal}

    def fit_anchors(self, frame: Frame, train: slice, config: ForecastT) -> dict[str, np.ndarray]:
        """Forecasts the model's may be blended with that are fitted on the ``train`` rows, by
        name: each a table :meth:`fitted_anchor` reads (saved with the model); none by
        default."""
        return {}

    def fitted_anchor(
        self, name: str, table: np.ndarray, times: np.ndarray, config: ForecastT
    ) -> np.ndarray:
        """The forecasts of ``times`` by the fitted anchor ``name`` from its ``table``."""
        raise InvalidParameterError(f"{self.name} has no fitted forecast {name!r}")

    def _forecast(
        self,
        scaled: np.ndarray,
        frame: Frame,
        rows: np.ndarray,
        config: ForecastT,
        fitted: tuple[StandardScaler, Anchors],
        blend: Blend,
    ) -> np.ndarray:
        """Forecasts of ``frame.target[rows]`` in the target's units from the model's scaled
        changes, shrunk toward the blend's anchor by its weight."""
        target_scaler, anchors = fitted
        target = self._change_target(config)
        anchor_change = None
        if blend.anchor != DRIFT:
            values = self._anchor_values(frame, rows, config, anchors, blend.anchor)
            last_known = target.level(frame.target)[rows - config.horizon]
            anchor_change = target.level(values) - last_known
        change = blended_change(scaled, blend.weight, target_scaler, anchor_change)
        return target.forecast(frame.target, rows, change)

    def _anchor_values(
        self, frame: Frame, rows: np.ndarray, config: ForecastT, anchors: Anchors, anchor: str
    ) -> np.ndarray:
        """The forecasts of ``frame.target[rows]`` (rows past its end included) by ``anchor``."""
        if anchor in anchors.tables:
            times = self._target_times(config, frame, rows)
            return self.fitted_anchor(anchor, anchors.tables[anchor], times, config)
        return lagged(frame.target, rows, anchors.lag(anchor), anchor)

    def _summary(
        self, frame: Frame, split: Split, config: ForecastT, blend: Blend, rows: np.ndarray
    ) -> str:
        """The report's first paragraph: target, protocol, blend and who chose it."""
        unscored = 0 if frame.observed is None else int((~frame.observed[split.test]).sum())
        text = (
            f"Target: **{self.describe_target(config)}** {config.horizon} step(s) ahead"
            f"{' (log scale inside the model)' if self.log_target else ''}. Chronological "
            f"split {config.train_fraction:.0%} / {config.val_fraction:.0%} / rest; scalers "
            f"fitted on the training part only; early stopping on validation. The model reads "
            f"rows up to {config.horizon} step(s) before each target row, never the target's "
            f"own row. The forecast change is blended with a naive forecast's (the "
            f"training-mean change unless another is named): {blend.describe()}; 1 = the model "
            f"alone. Test rows scored: {len(rows)}."
        )
        if unscored > 0:
            text += f" {unscored} test rows whose actual value was missing are not scored."
        for note in self.baseline_notes(frame, rows, config, split.train):
            text += f" {note}"
        return text

    # ---- predict from a saved artifact --------------------------------------------------
    def predict(self, artifact: ModelArtifact, inputs: Path) -> dict[str, np.ndarray]:
        """A forecast from every window of ``sequence_length`` rows of ``inputs`` (raw rows in
        the training data's format), including the one ending at the last row: columns
        ``last_input_time`` (the window's last row), ``steps_ahead`` and ``forecast`` (in the
        target's units)."""
        config = self.saved_config(artifact)
        frame = self.load_frame(config, source=inputs)
        return self._window_forecasts(artifact, config, frame, str(inputs))[1]

    def predict_rows(
        self,
        artifact: ModelArtifact,
        rows: Sequence[Mapping[str, Any]],
        *,
        horizon: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Forecasts from raw rows held in memory (objects of column: value, in the training
        data's format), read by the same code as :meth:`predict`'s files, no file written.

        Without ``horizon``: :meth:`predict`'s forecast from every window, with the column
        ``time`` (the time each forecasts). With ``horizon`` (1 to the model's ``horizon``):
        the forecasts of the next ``horizon`` times after the last row, each from the window
        ending the model's horizon before it, timed by the series' frequency.

        Raises
        ------
        InvalidParameterError
            For a horizon beyond the model's, or too few rows for the windows it needs.
        """
        return self.predict_rows_with_history(artifact, rows, horizon=horizon)[0]

    def predict_rows_with_history(
        self,
        artifact: ModelArtifact,
        rows: Sequence[Mapping[str, Any]],
        *,
        horizon: int | None = None,
    ) -> tuple[dict[str, np.ndarray], History | None]:
        """:meth:`predict_rows` and the target as the model read it from the same rows (one
        reading for both): its times, and its values with NaN where a value was missing and
        filled in (``missing=fill``)."""
        config = self.saved_config(artifact)
        windows = self._request_windows(artifact, config, RowsRequest(rows, horizon))
        scaled = self._scaled(artifact, config, windows)
        return self._rows_forecasts(config, windows, scaled, horizon), self._history(
            config, windows.frame
        )

    def predict_rows_batch(
        self, artifact: ModelArtifact, requests: Sequence[RowsRequest]
    ) -> list[RowsAnswer | Exception]:
        """:meth:`predict_rows` (with its history when asked) of each request, the windows
        looking past the end of every request's rows forecast in one forward pass (a
        request's windows inside its rows, when it has any, in batches of their own as
        :meth:`predict` computes them). A request whose rows do not read, or that asks for
        what the model cannot give, gets its error; the others their forecasts."""
        config = self.saved_config(artifact)
        prepared: list[_Windows | Exception] = []
        for request in requests:
            try:
                prepared.append(self._request_windows(artifact, config, request))
            except Exception as e:  # raised to its own request only
                prepared.append(e)
        ready = [w for w in prepared if isinstance(w, _Windows)]
        futures = iter(self._batched_future(artifact, config, ready))
        answers: list[RowsAnswer | Exception] = []
        for request, windows in zip(requests, prepared, strict=True):
            if isinstance(windows, Exception):
                answers.append(windows)
                continue
            scaled = self._scaled(artifact, config, windows, next(futures))
            columns = self._rows_forecasts(config, windows, scaled, request.horizon)
            history = self._history(config, windows.frame) if request.history else None
            answers.append((columns, history))
        return answers

    def _request_windows(
        self, artifact: ModelArtifact, config: ForecastT, request: RowsRequest
    ) -> _Windows:
        """The windows :meth:`predict_rows` forecasts for ``request``, its horizon checked.

        Raises
        ------
        InvalidParameterError
            For a horizon beyond the model's, or too few rows for the windows it needs.
        """
        horizon, trained = request.horizon, config.horizon
        if horizon is not None and not 1 <= horizon <= trained:
            raise InvalidParameterError(
                f"horizon {horizon} is beyond this model's: it forecasts {trained} step(s) "
                f"ahead, so it can give the next 1 to {trained} times after the last row; ask "
                f"for horizon <= {trained}, or train a model with horizon={horizon}"
            )
        frame = self.load_frame(config, source=rows_table(request.rows))
        windows = self._predict_windows(
            artifact, config, frame, "the request", horizon is not None
        )
        first = len(frame) - trained  # the window whose target is the first future time
        if horizon is not None and (len(windows.ends) == 0 or windows.ends[0] > first):
            first_end = self._first_window_end(config, windows.blend, windows.fitted[1])
            raise InvalidParameterError(
                too_few_for_horizon(frame, config, horizon, windows.blend, first_end)
            )
        return windows

    def _rows_forecasts(
        self, config: ForecastT, windows: _Windows, scaled: np.ndarray, horizon: int | None
    ) -> dict[str, np.ndarray]:
        """:meth:`predict_rows`'s columns for ``windows`` from the model's ``scaled``
        outputs."""
        ends, forecasts = windows.ends, self._window_columns(config, windows, scaled)
        targets = ends + config.horizon
        if horizon is not None:
            first = len(windows.frame) - config.horizon
            keep = slice(first - int(ends[0]), first - int(ends[0]) + horizon)
            targets, forecasts = targets[keep], {k: v[keep] for k, v in forecasts.items()}
        return {"time": self._target_times(config, windows.frame, targets), **forecasts}

    def _history(self, config: ForecastT, frame: Frame) -> History:
        """The target as the model read it from the request's rows, NaN where a value was
        missing and filled in."""
        values = frame.target.astype(np.float64)
        if frame.observed is not None:
            values = np.where(frame.observed, values, np.nan)
        return History(self.describe_target(config), frame.times, values)

    def saved_config(self, artifact: ModelArtifact) -> ForecastT:
        """The config ``artifact`` was trained with, validated once per distinct config (a
        served model predicts from it on every request; do not change the object)."""
        return cast(ForecastT, _validated_config(type(self), json.dumps(artifact.config)))

    def future_times(self, config: ForecastT, frame: Frame, steps: np.ndarray) -> np.ndarray:
        """The times ``steps`` (1, 2...) rows after the last row of ``frame``: by the frame's
        frequency when the loader determined it (calendar months for monthly rows), else
        by the step between its last two rows."""
        if frame.frequency is not None:
            return frame.frequency.after(frame.times, steps)
        last = frame.times[-1]
        step = last - frame.times[-2] if len(frame) > 1 else np.timedelta64(1, "D")
        times: np.ndarray = last + steps * step
        return times

    def _target_times(self, config: ForecastT, frame: Frame, targets: np.ndarray) -> np.ndarray:
        """The time of each target row, rows past the end timed by :meth:`future_times`."""
        inside = targets < len(frame)
        beyond = self.future_times(config, frame, targets[~inside] - (len(frame) - 1))
        times = np.empty(len(targets), dtype=np.result_type(frame.times.dtype, beyond.dtype))
        times[inside], times[~inside] = frame.times[targets[inside]], beyond
        return times

    def _window_forecasts(
        self, artifact: ModelArtifact, config: ForecastT, frame: Frame, where: str
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The window ends and :meth:`predict`'s columns for every window of ``frame``."""
        windows = self._predict_windows(artifact, config, frame, where)
        scaled = self._scaled(artifact, config, windows)
        return windows.ends, self._window_columns(config, windows, scaled)

    def _predict_windows(
        self,
        artifact: ModelArtifact,
        config: ForecastT,
        frame: Frame,
        where: str,
        future_only: bool = False,
    ) -> _Windows:
        """The windows of ``frame`` ready for the model; ``future_only``: the last
        ``horizon`` ones only (those looking past the end), as :meth:`predict` computes them.

        Raises
        ------
        InvalidParameterError
            For features other than the model's, or too few rows for one window.
        """
        if frame.feature_names != artifact.features:
            raise InvalidParameterError(
                f"{where} has features {frame.feature_names}, the model was trained on "
                f"{artifact.features}"
            )
        length = config.sequence_length
        blend = saved_blend(artifact, config)
        anchors = self._saved_anchors(artifact, config, blend)
        first_end = self._first_window_end(config, blend, anchors)
        if len(frame) <= first_end:
            raise InvalidParameterError(too_few_rows(where, frame, config, blend, first_end))
        features = artifact.preprocessing["features"].transform(frame.features).astype(np.float32)
        ends = np.arange(first_end, len(features))
        # Windows whose target lies inside the input, then the last `horizon` ones that look
        # past its end: batched apart, the in-sample ones reproduce a run's test predictions
        # bit for bit (BLAS results depend on the batch they are computed in).
        split_at = max(len(ends) - config.horizon, 0)
        if future_only:
            ends, split_at = ends[split_at:], 0
        inside = window_inputs(features, ends[:split_at], length) if split_at else None
        future = window_inputs(features, ends[split_at:], length)
        target_scaler = cast(StandardScaler, artifact.preprocessing["target"])
        return _Windows(frame, ends, inside, future, blend, (target_scaler, anchors))

    @staticmethod
    def _scaled(
        artifact: ModelArtifact,
        config: ForecastT,
        windows: _Windows,
        future: np.ndarray | None = None,
    ) -> np.ndarray:
        """The model's outputs for ``windows``: those inside the rows, then those past their
        end (``future`` when they were forecast in a batch of requests)."""
        if future is None:
            future = predict(artifact.model, windows.future, config.batch_size)[:, 0]
        if windows.inside is None:
            return future
        inside = predict(artifact.model, windows.inside, config.batch_size)[:, 0]
        return np.concatenate([inside, future])

    @staticmethod
    def _batched_future(
        artifact: ModelArtifact, config: ForecastT, batch: Sequence[_Windows]
    ) -> list[np.ndarray]:
        """The model's outputs for each one's windows past the end of its rows, all in one
        forward pass (in batches of ``batch_size`` windows)."""
        if not batch:
            return []
        stacked = np.concatenate([windows.future for windows in batch])
        outputs = predict(artifact.model, stacked, config.batch_size)[:, 0]
        counts = np.cumsum([len(windows.future) for windows in batch])[:-1]
        return np.split(outputs, counts)

    def _window_columns(
        self, config: ForecastT, windows: _Windows, scaled: np.ndarray
    ) -> dict[str, np.ndarray]:
        """:meth:`predict`'s columns for ``windows`` from the model's ``scaled`` outputs."""
        ends, frame = windows.ends, windows.frame
        rows = ends + config.horizon
        return {
            "last_input_time": frame.times[ends],
            "steps_ahead": np.full(len(ends), config.horizon),
            "forecast": self._forecast(scaled, frame, rows, config, windows.fitted, windows.blend),
        }

    def _saved_anchors(self, artifact: ModelArtifact, config: ForecastT, blend: Blend) -> Anchors:
        """The anchors of the series, with the fitted one the artifact saved.

        Raises
        ------
        SchemaMismatchError
            If the artifact blends with an anchor the series does not have or whose table
            it does not hold.
        """
        tables = artifact.selection.get("anchor_tables", {})
        anchors = Anchors(
            self.anchor_lags(config),
            {k: np.asarray(v, dtype=np.float64) for k, v in tables.items()},
        )
        if blend.anchor not in anchors.names():
            raise SchemaMismatchError(
                f"the {artifact.pipeline} artifact blends its forecasts with {blend.anchor!r} "
                "but holds no such forecast (a fitted one's table is missing from its "
                "'selection'); run the pipeline again to save a complete artifact"
            )
        return anchors

    @staticmethod
    def _first_window_end(config: ForecastConfig, blend: Blend, anchors: Anchors) -> int:
        """The last row of the first window that can be forecast: ``sequence_length`` rows
        in, or later when the blend's anchor reads further back than the window."""
        lag = anchors.lag(blend.anchor)
        return max(config.sequence_length, lag - config.horizon + 1) - 1


@functools.lru_cache(maxsize=64)
def _validated_config(pipeline: type[TimeSeriesPipeline[Any]], saved: str) -> ForecastConfig:
    config: ForecastConfig = pipeline.make_config(_current_settings(json.loads(saved)))
    return config


def _current_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """An artifact's config without ``blend_chosen_by``, a setting of development versions
    after 0.1.0 (their config holds the applied weight in ``blend``, as 0.1.0's does)."""
    return {key: value for key, value in saved.items() if key != "blend_chosen_by"}


def _check_finite(predicted: np.ndarray, frame: Frame) -> None:
    """Refuse forecasts that are not finite numbers: blaming the data's scale when a value
    lies beyond :data:`VALUE_BOUND` (the model's float32 overflows long before float64
    does), the training otherwise."""
    bad = ~np.isfinite(predicted)
    if not bad.any():
        return
    magnitudes = np.abs(np.column_stack([frame.target, frame.features])).max(axis=0)
    names = ["the target", *(repr(name) for name in frame.feature_names)]
    largest = int(np.argmax(magnitudes))
    problem = f"the forecasts of {int(bad.sum())} of {len(predicted)} test rows are not finite"
    if magnitudes[largest] <= VALUE_BOUND:
        raise InvalidParameterError(
            f"{problem}: training diverged (its values were at most {magnitudes[largest]:.3g}); "
            "lower learning_rate, or look for a column whose values jump by orders of magnitude"
        )
    raise DataFormatError(
        f"{problem} numbers: the data's values are too large for training (the largest is "
        f"{magnitudes[largest]:.3g}, in {names[largest]}, beyond {VALUE_BOUND:.0e}); rescale "
        "that column (divide it by a power of ten) or leave it out"
    )
