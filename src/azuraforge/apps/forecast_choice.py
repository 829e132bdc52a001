"""What a forecasting run keeps beside its model, and says about it.

- :class:`Anchors`: the naive forecasts a model's may be blended with (drift, seasonal naive,
  climatology), and the rows back each reads;
- :func:`check_blend_with`, :func:`saved_blend`, :func:`chosen_settings`,
  :func:`selection_record`: the blend a user set or the validation part chose, checked before
  training, saved in the artifact and read back to predict;
- :func:`verdicts`: the sentences the terminal and report.md both give about the result;
- :func:`too_few_rows`, :func:`too_few_for_horizon`: how many rows predicting needs, counted
  as the user sent them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from azuraforge.errors import InvalidParameterError, SchemaMismatchError
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.learn.forecasting import DRIFT, Blend

if TYPE_CHECKING:
    from azuraforge.apps.forecasting import ForecastConfig, Frame


@dataclass(frozen=True)
class Anchors:
    """The naive forecasts a model's may be blended with: ``lags``, forecasts that read the
    target some rows back (drift reads none), and ``tables``, forecasts fitted on the training
    rows (climatology), saved with the model."""

    lags: dict[str, int]
    tables: dict[str, np.ndarray] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Every anchor, lagged ones first."""
        return [*self.lags, *self.tables]

    def lag(self, anchor: str) -> int:
        """The rows back ``anchor`` reads (0 for a fitted one); an anchor the series does not
        have is refused, naming those it has."""
        if anchor in self.tables:
            return 0
        if anchor not in self.lags:
            raise InvalidParameterError(
                f"blend_with={anchor!r} is not a forecast of this series; choose one of "
                f"{', '.join(repr(a) for a in self.names())}"
            )
        return self.lags[anchor]


def saved_blend(artifact: ModelArtifact, config: ForecastConfig) -> Blend:
    """The blend the run applied: the user's ``blend`` (with their ``blend_with``, drift by
    default), else the one it chose (artifacts of 0.1.0 hold the chosen weight in
    ``config.blend`` too; artifacts before ``blend_with`` blend with drift)."""
    if config.blend is not None:
        return Blend(config.blend, "user", config.blend_with or DRIFT)
    weight = artifact.chosen_settings.get("blend")
    if not isinstance(weight, int | float):
        raise SchemaMismatchError(
            f"the {artifact.pipeline} artifact records no blend weight: its config has blend "
            "None and it has no chosen blend; run the pipeline again to save a complete artifact"
        )
    anchor = config.blend_with or str(artifact.chosen_settings.get("blend_with", DRIFT))
    return Blend(float(weight), "validation", anchor)


def check_blend_with(config: ForecastConfig, anchors: Anchors, val_rows: np.ndarray) -> None:
    """Refuse a ``blend_with`` the series does not have, or that reads before the validation
    part's first forecast (it would read before the first row)."""
    if config.blend_with is None:
        return
    first = int(val_rows.min()) if len(val_rows) else 0
    lag = anchors.lag(config.blend_with)
    if lag > first:
        raise InvalidParameterError(
            f"blend_with={config.blend_with!r} reads {lag} rows back, before the validation "
            f"part's first forecast (row {first}); use more rows, a larger train_fraction, or "
            "another blend_with"
        )


def verdicts(blend: Blend, metrics: Mapping[str, Mapping[str, float]]) -> list[str]:
    """What the report and the terminal both say about the result: how the forecast was
    chosen, when it is a naive forecast, how it fared on the test part against the best
    baseline, and when it calls directions worse than the majority rate."""
    verdicts = [blend.explain()]
    if blend.weight == 0:
        why = (
            " (the model showed no skill on validation)" if blend.chosen_by == "validation" else ""
        )
        verdicts.append(
            f"**The weight is 0: the 'model' column is {blend.forecast_name()}{why}.**"
        )
    mae = {name: value for name, value in metrics.get("MAE", {}).items() if name != "model"}
    if mae and "model" in metrics.get("MAE", {}):
        best = min(mae, key=mae.__getitem__)
        ratio = metrics["MAE"]["model"] / mae[best] if mae[best] > 0 else float("nan")
        verdicts.append(
            f"Test MAE: the model {metrics['MAE']['model']:.4g}, {ratio:.2f}x the best "
            f"baseline ({best}, {mae[best]:.4g})."
        )
    direction = metrics.get("Directional accuracy", {})
    if "model" in direction and direction["model"] < direction.get("majority rate", 0.0):
        verdicts.append(
            f"**Directional accuracy {direction['model']:.4f} is below the majority rate "
            f"{direction['majority rate']:.4f}: always calling the commoner direction would do "
            "better.**"
        )
    return verdicts


def chosen_settings(blend: Blend) -> dict[str, float | str]:
    """What the validation part chose, for the artifact: the weight and the anchor."""
    if blend.chosen_by != "validation":
        return {}
    return {"blend": blend.weight, "blend_with": blend.anchor}


def selection_record(blend: Blend, anchors: Anchors) -> dict[str, Any]:
    """Why the validation part chose the blend, and the table of a fitted anchor the
    forecasts need, for the artifact."""
    selection: dict[str, Any] = {}
    if blend.chosen_by == "validation":
        selection = {
            "forecast": blend.forecast_name(),
            "validation_mae": blend.validation_mae,
            "reason": blend.explain(),
        }
    if blend.anchor in anchors.tables:
        selection["anchor_tables"] = {blend.anchor: anchors.tables[blend.anchor].tolist()}
    return selection


def _window_needs(config: ForecastConfig, blend: Blend, first_end: int) -> str:
    """What the first forecast reads (a noun phrase): one window, or the rows back the
    blend's anchor reads when that is further."""
    if first_end < config.sequence_length:
        return f"one window of sequence_length={config.sequence_length} rows"
    return (
        f"the value {first_end + config.horizon} rows before its target that the "
        f"{blend.anchor!r} forecast it is blended with reads"
    )


def too_few_for_horizon(
    frame: Frame, config: ForecastConfig, horizon: int, blend: Blend, first_end: int
) -> str:
    """The rows a forecast of the next ``horizon`` times needs, counted as sent."""
    needed = first_end + config.horizon + frame.dropped_rows
    rows = len(frame) + frame.dropped_rows - frame.inserted_rows
    return (
        f"the request has {rows} rows; a forecast of the next {horizon} time(s) needs at least "
        f"{needed}: the model forecasts {config.horizon} step(s) ahead, so the next time comes "
        f"from the window ending {config.horizon - 1} row(s) before the last, and it needs "
        f"{_window_needs(config, blend, first_end)}; send more rows"
    )


def too_few_rows(
    inputs: str, frame: Frame, config: ForecastConfig, blend: Blend, first_end: int
) -> str:
    """Rows counted in the file, not in the model's table (which may be shorter)."""
    needed = first_end + 1 + frame.dropped_rows
    why = _window_needs(config, blend, first_end)
    if frame.dropped_rows:
        why += f" plus the {frame.dropped_rows} row(s) its first change is computed from"
    rows = len(frame) + frame.dropped_rows - frame.inserted_rows
    inserted = f" (and {frame.inserted_rows} inserted for gaps)" if frame.inserted_rows else ""
    return (
        f"{inputs} has {rows} data rows{inserted}; the model needs at least {needed} ({why}); "
        "pass a longer stretch of the series"
    )
