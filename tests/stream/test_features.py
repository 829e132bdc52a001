"""Features one event at a time = in batch = pandas' rolling and exponentially weighted maths
(and the ``ta`` package's definitions written with them), on the real BTC closes."""

from __future__ import annotations

import numpy as np
import pandas as pd  # the reference; in the test extra, so never skipped
import pytest

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.datasets import fetch
from azuraforge.stream import MACD, RSI, Bollinger, CsvReplay, Event, FeatureSet, Returns, Rolling

RTOL = ATOL = 1e-12
"""Incremental and batch sum the rolling windows in another order (absolute near 0: a %B of
0.0000 is a difference of two prices)."""
PANDAS_RTOL, PANDAS_ATOL = 1e-7, 1e-8
"""pandas' rolling variance keeps running sums: on the calmest windows of 37,387 closes it is
off by up to 2e-8 relative (ours takes each window in two passes), and a %B near 0 by 2e-9."""


@pytest.fixture(scope="module")
def closes(real_data) -> np.ndarray:
    path = fetch("btc-hourly")["Bitstamp_BTCUSD_1h_2018_2022.csv"]
    return np.array([event.values["close"] for event in CsvReplay(path)])


def incremental(feature, values: np.ndarray) -> dict[str, np.ndarray]:
    """``feature.update`` value by value, NaN where it gave nothing."""
    out = {name: np.full(len(values), np.nan) for name in feature.names}
    for index, value in enumerate(values.tolist()):
        for name, found in feature.update(value).items():
            out[name][index] = found
    return out


def pandas_reference(closes: np.ndarray) -> dict[str, np.ndarray]:
    """The definitions, written with pandas (RSI, MACD and Bollinger as ``ta`` does)."""
    series = pd.Series(closes)
    change = series.diff()
    gain, loss = change.clip(lower=0), (-change).clip(lower=0)

    def wilder(part):  # the first average is a plain mean, then avg = (avg x 13 + x) / 14
        seeded = part.copy()
        seeded.iloc[1:15] = np.nan
        seeded.iloc[14] = part.iloc[1:15].mean()
        return seeded.iloc[14:].ewm(alpha=1 / 14, adjust=False).mean()

    avg_gain, avg_loss = wilder(gain), wilder(loss)
    rsi = 100 - 100 / (1 + avg_gain / avg_loss)
    fast = series.ewm(span=12, adjust=False, min_periods=12).mean()
    slow = series.ewm(span=26, adjust=False, min_periods=26).mean()
    line = fast - slow
    signal = line.ewm(span=9, adjust=False, min_periods=9).mean()
    mean20, std20 = series.rolling(20).mean(), series.rolling(20).std(ddof=0)
    upper, lower = mean20 + 2 * std20, mean20 - 2 * std20
    return {
        "return_1": series.pct_change(1, fill_method=None).to_numpy(),
        "return_24": series.pct_change(24, fill_method=None).to_numpy(),
        "mean_20": mean20.to_numpy(),
        "std_20": series.rolling(20).std().to_numpy(),
        "min_20": series.rolling(20).min().to_numpy(),
        "max_20": series.rolling(20).max().to_numpy(),
        "rsi_14": rsi.reindex(series.index).to_numpy(),
        "macd": line.to_numpy(),
        "macd_signal": signal.to_numpy(),
        "macd_hist": (line - signal).to_numpy(),
        "bb_pct_b": ((series - lower) / (upper - lower)).to_numpy(),
        "bb_width": ((upper - lower) / mean20).to_numpy(),
    }


def every_feature() -> FeatureSet:
    return FeatureSet(
        "close", [Returns([1, 24]), Rolling(20), RSI(14), MACD(12, 26, 9), Bollinger(20, 2)]
    )


def test_incremental_equals_batch_equals_pandas_on_the_btc_closes(closes: np.ndarray):
    features = every_feature()
    one_by_one = {name: np.full(len(closes), np.nan) for name in features.names}
    for index, close in enumerate(closes.tolist()):
        for name, found in features.update(Event(float(index), {"close": close})).items():
            one_by_one[name][index] = found
    batch = every_feature().batch(closes)
    reference = pandas_reference(closes)
    assert set(one_by_one) == set(batch) == set(reference)
    for name, expected in reference.items():
        np.testing.assert_allclose(one_by_one[name], batch[name], RTOL, ATOL, err_msg=name)
        np.testing.assert_allclose(batch[name], expected, PANDAS_RTOL, PANDAS_ATOL, err_msg=name)
    warm = {name: int(np.argmax(~np.isnan(column))) for name, column in batch.items()}
    assert warm == {
        "return_1": 1, "return_24": 24, "mean_20": 19, "std_20": 19, "min_20": 19,
        "max_20": 19, "rsi_14": 14, "macd": 25, "macd_signal": 33, "macd_hist": 33,
        "bb_pct_b": 19, "bb_width": 19,
    }  # fmt: skip
    rsi = batch["rsi_14"][14:]
    assert 0 < rsi.min() < 20 and 80 < rsi.max() < 100  # a real series reaches both extremes


@pytest.mark.parametrize(
    "feature", [Returns([1, 3]), Rolling(3), RSI(3), MACD(2, 4, 3), Bollinger(3)]
)
def test_a_short_or_flat_series_gives_the_same_both_ways(feature):
    for values in ([], [5.0], [5.0, 5.0], [5.0] * 12, [1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 4.0]):
        array = np.array(values, dtype=np.float64)
        fresh = type(feature)(**{key: getattr(feature, key) for key in vars(feature)
                                 if not key.startswith("_")})  # fmt: skip
        one_by_one, batch = incremental(fresh, array), feature.batch(array)
        for name in feature.names:
            assert len(batch[name]) == len(array)
            np.testing.assert_allclose(one_by_one[name], batch[name], RTOL, ATOL, err_msg=name)


def test_flat_values_give_neutral_indicators():
    flat = np.full(30, 7.0)
    assert np.nanmax(RSI(5).batch(flat)["rsi_5"]) == 50.0  # neither gain nor loss
    assert set(np.unique(Bollinger(5).batch(flat)["bb_pct_b"][4:])) == {0.5}  # no band width
    assert RSI(2).batch(np.array([1.0, 2.0, 3.0]))["rsi_2"][2] == 100.0  # gains only


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Returns([]), "at least one horizon"),
        (lambda: Returns([0]), "each horizon must be an integer >= 1, got 0"),
        (lambda: Rolling(1), "window must be an integer >= 2, got 1"),
        (lambda: Rolling(5, ["median"]), "unknown stats median; the stats are mean, std"),
        (lambda: RSI(2.5), "period must be an integer >= 1, got 2.5"),
        (lambda: MACD(26, 12), "fast (26) must be below slow (12)"),
        (lambda: Bollinger(20, 0), "k must be above 0, got 0"),
        (lambda: FeatureSet("close", [Rolling(5), Rolling(5)]), "two features give max_5"),
    ],
)
def test_bad_settings_say_what_is_wrong(make, message):
    with pytest.raises(InvalidParameterError) as error:
        make()
    assert message in str(error.value)


def test_an_event_without_the_column_is_a_clear_error():
    features = FeatureSet("close", [Returns()])
    with pytest.raises(InvalidParameterError, match="the event of line 7 has no 'close'"):
        features.update(Event(0.0, {"open": 1.0}, line=7))
