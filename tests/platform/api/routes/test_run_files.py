"""A run's files as ``GET /runs/{id}`` lists them (``artifacts``) and
``/runs/{id}/artifacts/{path}`` serves them: a real pipeline's report, model and
plots, each listed file served. The run is executed here, as a worker would (its claim, then
the job kernel): no worker process to start and poll."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from azuraforge.learn.datasets.fetching import MIRROR_VARIABLE
from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

API = "/api/v1"
TINY = {"max_rows": 600, "epochs": 1, "hidden_size": 4, "sequence_length": 8}
"""A weather run of about a second's training."""


@pytest.fixture
def data_mirror(shared_data: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The run reads the real data from the shared folders."""
    monkeypatch.setenv(MIRROR_VARIABLE, os.pathsep.join(str(folder) for folder in shared_data))


def test_a_pipelines_plots_are_listed_among_its_files_and_served(
    client: TestClient, store: Store, settings: Settings, data_mirror: None
) -> None:
    """The report's plots were served (its images point at them) but not listed."""
    made = client.post(f"{API}/runs", json={"pipeline": "weather-forecaster", "config": TINY})
    assert made.status_code == 201, made.text
    lease = store.claim(made.json()["data"][0]["id"], "test-worker", 60.0)
    assert lease is not None
    assert execute(store, lease, settings) == "completed"
    run = client.get(f"{API}/runs/{lease.experiment_id}").json()
    listed = [a["path"] for a in run["artifacts"] if not a["is_dir"]]
    report = client.get(f"{API}/runs/{run['id']}/report").json()["markdown"]
    shown = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert len(shown) >= 4 and all(path.startswith("plots/") for path in shown)
    assert [path for path in listed if path.startswith("plots/")] == shown
    assert {"report.md", "test_predictions.csv"} <= set(listed)
    for artifact in run["artifacts"]:
        if artifact["path"] in shown:
            served = client.get(f"{API}/runs/{run['id']}/artifacts/{artifact['path']}")
            assert served.status_code == 200
            assert served.headers["content-type"] == "image/png"
            assert len(served.content) == artifact["size"]
