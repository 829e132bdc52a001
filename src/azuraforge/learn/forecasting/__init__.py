"""Forecasting pieces any forecaster composes (the apps' pipelines and the stream layer).

- :mod:`~azuraforge.learn.forecasting.frequency`: the step between rows, seasons, calendar;
- :mod:`~azuraforge.learn.forecasting.target`: the change over the horizon, exactly inverted;
- :mod:`~azuraforge.learn.forecasting.baselines`: persistence, seasonal naive, drift,
  climatology;
- :mod:`~azuraforge.learn.forecasting.blend`: the model's change shrunk toward a naive one's;
- :mod:`~azuraforge.learn.forecasting.scoring`: every score beside every baseline;
- :mod:`~azuraforge.learn.forecasting.outputs`: the predictions CSV and the report.

How they fit together: ``docs/forecasting.md``.
"""

from azuraforge.learn.forecasting.baselines import (
    CLIMATOLOGY,
    CLIMATOLOGY_DAYS,
    CLIMATOLOGY_FREQUENCIES,
    climatology,
    climatology_forecast,
    climatology_table,
    drift,
    lagged,
    naive_baselines,
    persistence,
    seasonal_lag,
    seasonal_naive,
    unreachable_seasons,
)
from azuraforge.learn.forecasting.blend import (
    BLEND_WEIGHTS,
    DRIFT,
    MODEL_ALONE,
    Blend,
    blended_change,
    choose_anchored_blend,
    choose_blend,
)
from azuraforge.learn.forecasting.frequency import (
    FREQUENCIES,
    Frequency,
    calendar_columns,
    get_frequency,
    infer_frequency,
    irregular_steps,
)
from azuraforge.learn.forecasting.outputs import forecast_report, write_predictions
from azuraforge.learn.forecasting.scoring import mase_row, naive_scale, score_forecast
from azuraforge.learn.forecasting.target import ChangeTarget

__all__ = [
    "BLEND_WEIGHTS",
    "CLIMATOLOGY",
    "CLIMATOLOGY_DAYS",
    "CLIMATOLOGY_FREQUENCIES",
    "DRIFT",
    "FREQUENCIES",
    "MODEL_ALONE",
    "Blend",
    "ChangeTarget",
    "Frequency",
    "blended_change",
    "calendar_columns",
    "choose_anchored_blend",
    "choose_blend",
    "climatology",
    "climatology_forecast",
    "climatology_table",
    "drift",
    "forecast_report",
    "get_frequency",
    "infer_frequency",
    "irregular_steps",
    "lagged",
    "mase_row",
    "naive_baselines",
    "naive_scale",
    "persistence",
    "score_forecast",
    "seasonal_lag",
    "seasonal_naive",
    "unreachable_seasons",
    "write_predictions",
]
