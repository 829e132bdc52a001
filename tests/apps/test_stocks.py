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


def test_any_ohlcv_csv_can_be_predicted_with_the_saved_model(result, real_data):
    artifact = ModelArtifact.load(result.artifact_dir)
    nvda = fetch("nvda-daily")["NVDA_daily_1999_2014.csv"]
    forecasts = StockPredictor().predict(artifact, nvda)["forecast"]
    assert len(forecasts) > 3900 and np.all(forecasts > 0)


def test_a_broken_csv_is_explained(tmp_path):
    broken = tmp_path / "prices.csv"
    broken.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1,2,x,1,1,5\n")
    pipeline = StockPredictor()
    config = pipeline.make_config({"csv": str(broken), "start": "2020-01-01"})
    with pytest.raises(DataFormatError, match=r"prices\.csv.*line 2.*Low"):
        pipeline.run(config, LocalContext(output_dir=tmp_path / "run"))
