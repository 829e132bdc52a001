"""The registry through /api/v1/models on SQLite and PostgreSQL: register, alias, history,
rollback, delete, references, and the errors of each."""

from __future__ import annotations

import os
import stat

from fastapi.testclient import TestClient

from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord
from tests.platform.registry.conftest import call, registered


def test_register_versions_from_runs(
    api: TestClient, runs: list[ExperimentRecord], settings: Settings
):
    registered(api, runs)
    versions = call(api, "GET", "/models/weather/versions")
    assert [v["version"] for v in versions["data"]] == [2, 1]
    first = call(api, "GET", "/models/weather/versions/1")
    assert first["source_experiment_id"] == runs[0].id
    assert first["source_experiment_name"] == "run-0"
    assert first["pipeline"] == "weather-forecaster"
    assert first["metrics"]["MAE"]["persistence"] > 0
    assert len(first["data_fingerprint"]) == 64 and len(first["artifact_digest"]) == 64
    assert first["config"]["sequence_length"] == 8
    model = call(api, "GET", "/models/weather")
    assert model["latest_version"] == 2 and model["aliases"] == {}
    listing = call(api, "GET", "/models")
    assert [m["name"] for m in listing["data"]] == ["weather"] and listing["total"] == 1
    copies = list((settings.models_dir / "weather").iterdir())
    assert len(copies) == 2
    for path in [*copies[0].rglob("*")]:
        assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
