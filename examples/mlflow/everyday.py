"""An everyday MLflow script, written for MLflow and nothing else: scikit-learn's autolog, a
metric loop, an artifact, ``log_model``, the registry, an alias, and the model loaded back by
``models:/`` URIs. Pointed at AzuraForge by two variables, as at ``mlflow server`` by one:

    export MLFLOW_TRACKING_URI=http://127.0.0.1:8000   # the server, no path
    export MLFLOW_TRACKING_TOKEN=af_...                 # an editor's token of the project
    export AZURAFORGE_DATA_MIRROR=/path/to/data         # holding weather/london_daily_...csv
    python examples/mlflow/everyday.py

It forecasts London's mean temperature tomorrow from today's weather (the real file
``weather/london_daily_1979_2020.csv``) with a gradient-boosted regressor, beside the
persistence forecast (tomorrow as today), and prints each step as it ends: ``step N ok`` or
``step N failed: <why>``. It exits 1 when a step failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_absolute_error

FILE = Path("weather") / "london_daily_1979_2020.csv"
FEATURES = ["cloud_cover", "sunshine", "global_radiation", "max_temp", "mean_temp",
            "min_temp", "precipitation", "pressure"]  # fmt: skip


def data_file() -> Path:
    """The London file in the data mirror (``AZURAFORGE_DATA_MIRROR``, folders separated as in
    ``PATH``), or in the current folder."""
    for folder in filter(None, os.environ.get("AZURAFORGE_DATA_MIRROR", "").split(os.pathsep)):
        if (Path(folder) / FILE).is_file():
            return Path(folder) / FILE
    return FILE


def load(rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Today's weather (the last ``rows`` complete days) and tomorrow's mean temperature."""
    days = pd.read_csv(data_file(), usecols=list(FEATURES)).dropna().tail(rows + 1)
    return days[:-1].reset_index(drop=True), days["mean_temp"].to_numpy()[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="london-temperature", help="registered model name")
    parser.add_argument("--rows", type=int, default=3000, help="days to learn from")
    args = parser.parse_args()
    x, y = load(args.rows)
    split = int(len(x) * 0.8)
    failed = 0

    def step(number: int, what: str, action: Callable[[], object]) -> object:
        nonlocal failed
        try:
            found = action()
        except Exception as error:  # the script reports every step's fate
            failed += 1
            print(f"step {number} failed: {what}: {type(error).__name__}: {error}", flush=True)
            return None
        print(f"step {number} ok: {what}", flush=True)
        return found

    mlflow.set_experiment("london-temperature")
    mlflow.sklearn.autolog()
    regressor = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0)
    with mlflow.start_run(run_name="boosted") as run:
        step(1, "autolog, then fit", lambda: regressor.fit(x[:split], y[:split]))
        predicted = regressor.predict(x[split:])
        persistence = x["mean_temp"][split:]

        def curve() -> None:
            for i, staged in enumerate(regressor.staged_predict(x[split:]), 1):
                mlflow.log_metric("test_mae", mean_absolute_error(y[split:], staged), step=i)

        step(2, "a metric by step", curve)
        # Named as AzuraForge's pipelines name a score beside its baseline (docs/tracking.md).
        step(3, "the score beside its baseline", lambda: mlflow.log_metrics({
            "MAE.model": mean_absolute_error(y[split:], predicted),
            "MAE.persistence": mean_absolute_error(y[split:], persistence)}))  # fmt: skip

        def artifact() -> None:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "features.json"
                path.write_text(json.dumps({"features": FEATURES, "target": "mean_temp+1"}))
                mlflow.log_artifact(str(path))

        step(4, "an artifact", artifact)
        logged = step(5, "log_model", lambda: mlflow.sklearn.log_model(
            regressor, name="forecaster", input_example=x[:2],
            serialization_format="cloudpickle"))  # fmt: skip
    client = MlflowClient()
    uri = f"runs:/{run.info.run_id}/forecaster"
    version = step(6, "register_model", lambda: mlflow.register_model(uri, args.model))
    number = getattr(version, "version", "1")
    sample = x[split : split + 5]
    expected = regressor.predict(sample)

    def same(found: object) -> None:
        got = np.asarray(found).ravel()
        if not np.allclose(got, expected):
            raise AssertionError(f"predicted {got.tolist()}, fit gave {expected.tolist()}")

    step(7, f"pyfunc.load_model models:/{args.model}/{number}", lambda: same(
        mlflow.pyfunc.load_model(f"models:/{args.model}/{number}").predict(sample)))  # fmt: skip
    step(8, "set the alias champion", lambda: client.set_registered_model_alias(
        args.model, "champion", str(number)))  # fmt: skip
    step(9, "get the version by alias", lambda: client.get_model_version_by_alias(
        args.model, "champion"))  # fmt: skip
    step(10, f"pyfunc.load_model models:/{args.model}@champion", lambda: same(
        mlflow.pyfunc.load_model(f"models:/{args.model}@champion").predict(sample)))  # fmt: skip
    step(11, "sklearn.load_model of the logged model", lambda: same(
        mlflow.sklearn.load_model(logged.model_uri).predict(sample)))  # fmt: skip
    print(f"run {run.info.run_id}, model {args.model} version {number}: {failed} step(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
