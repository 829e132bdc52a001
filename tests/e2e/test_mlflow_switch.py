"""An MLflow user switching: ``examples/mlflow/everyday.py`` (autolog, a metric loop, an
artifact, ``log_model``, the registry, an alias, ``models:/`` loads), unchanged, against a real
``azuraforge serve`` with MLflow's two variables; then its run, its logged models and its
registered version with the alias's history on the dashboard, as docs/tracking.md shows them."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.e2e.conftest import REPOSITORY, Dashboard, shoot

SCRIPT = REPOSITORY / "examples" / "mlflow" / "everyday.py"
MODEL = "london-temperature"


def test_the_everyday_mlflow_script_runs_unchanged_and_shows_on_the_dashboard(
    dashboard: Dashboard, page, monkeypatch
):
    # The one step on the server's side: MLflow's models are pickles (docs/security.md).
    allowed = dashboard.api.patch("/settings", json={"mlflow_models": True})
    assert allowed.status_code == 200, allowed.text
    token = dashboard.api.headers["Authorization"].removeprefix("Bearer ")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dashboard.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    mlflow.set_tracking_uri(dashboard.url)  # over another module's, kept by MLflow's client
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "1500"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip
    steps = [line for line in done.stdout.splitlines() if line.startswith("step ")]
    assert done.returncode == 0 and len(steps) == 11, done.stdout + done.stderr[-3000:]

    client = MlflowClient(dashboard.url)
    run_id = done.stdout.rsplit("run ", 1)[1].split(",", 1)[0]
    run = client.get_run(run_id)
    assert {"training_score", "training_mean_absolute_error", "test_mae"} <= set(run.data.metrics)
    assert run.data.metrics["MAE.model"] < run.data.metrics["MAE.persistence"]
    logged = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert sorted(m.name for m in logged if m.source_run_id == run_id) == ["forecaster", "model"]

    model = dashboard.api.get(f"/models/{MODEL}").json()
    assert (model["latest_version"], model["aliases"]) == (1, {"champion": 1}), model
    moves = dashboard.api.get(f"/models/{MODEL}/aliases/champion/history").json()["data"]
    assert [(move["from_version"], move["to_version"]) for move in moves] == [(None, 1)], moves

    # Served by AzuraForge as MLflow's own pyfunc predicts it.
    rows = [
        {"cloud_cover": 6.0, "sunshine": 1.2, "global_radiation": 30.0, "max_temp": 9.5,
         "mean_temp": 6.1, "min_temp": 3.0, "precipitation": 0.4, "pressure": 101500.0},
        {"cloud_cover": 2.0, "sunshine": 11.0, "global_radiation": 260.0, "max_temp": 27.0,
         "mean_temp": 20.5, "min_temp": 14.2, "precipitation": 0.0, "pressure": 102100.0},
    ]  # fmt: skip
    served = dashboard.api.post(f"/models/{MODEL}@champion/predict", json={"rows": rows})
    assert served.status_code == 200, served.text
    mlflows = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion").predict(pd.DataFrame(rows))
    assert served.json()["predictions"]["prediction"] == pytest.approx(list(mlflows))

    page.goto(f"{dashboard.url}/#/experiments/{run.info.experiment_id}/runs/{run_id}")
    page.wait_for_selector("#run-name:text-is('boosted')")
    page.wait_for_selector("text=training_mean_absolute_error")
    page.wait_for_function("() => document.querySelector('#metric-chart')?.data?.length")
    # MAE.model beside MAE.persistence: the model's score beside its baseline, and beating it.
    page.wait_for_selector("#scores tr:has(td:text-is('MAE')) td[data-mark=better]")
    shoot(page, "mlflow-run")
    page.goto(f"{dashboard.url}/#/models/{MODEL}")
    page.wait_for_selector("#versions-table tr[data-version='1']")
    page.wait_for_selector("#aliases-table tr[data-alias=champion]")
    page.wait_for_selector("#alias-history tbody tr")
    shoot(page, "mlflow-model")
