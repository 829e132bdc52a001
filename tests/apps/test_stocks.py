"""stock-predictor on a slice of the S&P 500, and on another CSV of the same shape."""

import numpy as np
import pytest

from azuraforge.apps.stocks import StockPredictor
from azuraforge.errors import DataFormatError
from azuraforge.learn import LocalContext
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.learn.datasets import fetch

SLICE = {"max_rows": 3000, "epochs": 2, "hidden_size": 16, "start": "1982-04-20"}


@pytest.fixture(scope="module")
def result(tmp_path_factory, real_data):
    pipeline = StockPredictor()
    ctx = LocalContext(output_dir=tmp_path_factory.mktemp("stocks"))
    return pipeline.run(pipeline.make_config(SLICE), ctx)


def test_scores_sit_beside_persistence_drift_and_the_majority_rate(result):
    metrics = result.metrics
    assert {"model", "persistence", "drift"} <= set(metrics["MAE"])
    # Daily prices are close to a random walk: the honest bar is "not worse than naive".
    assert metrics["RelativeMAE vs persistence"]["model"] < 1.05
    direction = metrics["Directional accuracy"]
    assert 0.3 < direction["model"] < 0.7 and 0.45 < direction["majority rate"] < 0.7
    assert np.isfinite(metrics["MASE (log price)"]["model"])


def test_the_terminal_says_when_directions_are_called_worse_than_the_majority_rate(result):
    direction = result.metrics["Directional accuracy"]
    below = direction["model"] < direction["majority rate"]
    sentence = f"Directional accuracy {direction['model']:.4f} is below the majority rate"
    assert any(sentence in note for note in result.notes) == below
    assert (sentence in result.report_path.read_text()) == below


def nvda_lines() -> list[str]:
    return fetch("nvda-daily")["NVDA_daily_1999_2014.csv"].read_text().splitlines()


def test_any_ohlcv_csv_can_be_predicted_with_the_saved_model(result, real_data, tmp_path):
    artifact = ModelArtifact.load(result.artifact_dir)
    nvda = fetch("nvda-daily")["NVDA_daily_1999_2014.csv"]
    forecasts = StockPredictor().predict(artifact, nvda)["forecast"]
    assert len(forecasts) > 3900 and np.all(forecasts > 0)
    # The same prices under other names, in another order, with an extra column.
    renamed = ["timestamp,volume,ticker,close,low,high"]
    for line in nvda_lines()[1:]:
        date, _, high, low, close, _, volume = line.split(",")
        renamed.append(f"{date},{volume},NVDA,{close},{low},{high}")
    (tmp_path / "nvda.csv").write_text("\n".join(renamed) + "\n")
    again = StockPredictor().predict(artifact, tmp_path / "nvda.csv")["forecast"]
    np.testing.assert_array_equal(again, forecasts)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Close", "0", r"line 101, column 5 \('Close'\): expected a price > 0, got '0'"),
        ("Low", "-1.5", r"line 101, column 4 \('Low'\): expected a price > 0, got '-1.5'"),
        ("High", "1.0", r"line 101, columns 3-4 \('High', 'Low'\): the high 1.0 is below the low"),
    ],
)
def test_predict_refuses_impossible_prices(result, real_data, tmp_path, field, value, message):
    lines = nvda_lines()[:200]
    values = lines[100].split(",")
    values[lines[0].split(",").index(field)] = value
    lines[100] = ",".join(values)
    (tmp_path / "nvda.csv").write_text("\n".join(lines) + "\n")
    artifact = ModelArtifact.load(result.artifact_dir)
    with pytest.raises(DataFormatError, match=rf"nvda\.csv, {message}"):
        StockPredictor().predict(artifact, tmp_path / "nvda.csv")


def test_columns_named_in_the_settings(tmp_path):
    prices = tmp_path / "prices.csv"
    rows = [f"2024-01-{day:02d},{10 + day},{8 + day},{9 + day},{1000 * day}" for day in (2, 3, 4)]
    prices.write_text("\n".join(["Session,Hi,Lo,Last,Shares", *rows]) + "\n")
    pipeline = StockPredictor()
    named = {"date_column": "Session", "high_column": "Hi", "low_column": "Lo",
             "close_column": "Last", "volume_column": "Shares"}  # fmt: skip
    config = pipeline.make_config({"csv": str(prices), **named})
    frame = pipeline.load_frame(config)
    np.testing.assert_array_equal(frame.target, [12, 13])  # the first day has no return
    with pytest.raises(DataFormatError, match=r"no column 'Close' .* the setting close_column"):
        pipeline.load_frame(config.model_copy(update={"close_column": None}))


def test_a_broken_csv_is_explained(tmp_path):
    broken = tmp_path / "prices.csv"
    broken.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1,2,x,1,1,5\n")
    pipeline = StockPredictor()
    config = pipeline.make_config({"csv": str(broken), "start": "2020-01-01"})
    with pytest.raises(DataFormatError, match=r"prices\.csv.*line 2.*Low"):
        pipeline.run(config, LocalContext(output_dir=tmp_path / "run"))
