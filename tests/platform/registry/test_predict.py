"""POST /api/v1/models/{ref}/predict on SQLite and PostgreSQL: the same numbers as the
pipeline's own predict on the same rows loaded directly, references, and bad input."""

from __future__ import annotations

import copy
import csv
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from azuraforge.apps import get_pipeline
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import BlobCache, BlobStore, open_blobs
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store
from tests.platform.fixtures import admin_headers
from tests.platform.registry.conftest import SEQUENCE, WEATHER, call, registered


def direct(
    settings: Settings, store: Store, version: int, rows: list[dict[str, Any]], folder: Path
):
    """The pipeline's predict on ``rows`` written as the CSV file it reads."""
    path = folder / f"rows-{version}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    record = store.get_version("weather", version)
    artifact = ModelArtifact.load(
        BlobCache(open_blobs(settings), folder / "cache").folder(record.artifact_path)
    )
    return get_pipeline(WEATHER)().predict(artifact, path)


def predict(api: TestClient, ref: str, rows: list[dict[str, Any]], expected: int = 200, **extra):
    return call(api, "POST", f"/models/{ref}/predict", expected, json={"rows": rows, **extra})


def test_predict_equals_the_pipeline_on_the_same_rows(
    api: TestClient,
    runs: list[ExperimentRecord],
    settings: Settings,
    store: Store,
    beijing_rows: list[dict[str, Any]],
    tmp_path: Path,
):
    registered(api, runs)
    rows = beijing_rows[:30]
    for ref, version in (("weather/1", 1), ("weather/2", 2), ("weather", 2)):
        answer = predict(api, ref, rows)
        expected = direct(settings, store, version, rows, tmp_path)
        assert answer["version"] == version and answer["reference"] == ref
        assert answer["rows"] == len(rows) - SEQUENCE + 1
        assert answer["predictions"]["forecast"] == expected["forecast"].tolist()
        assert answer["predictions"]["last_input_time"] == [
            str(t) for t in expected["last_input_time"]
        ]
    # The forecast of the next hour: the window ending at the last row, timed an hour later.
    ahead = predict(api, "weather/1", rows, horizon=1)["predictions"]
    assert ahead["forecast"] == [direct(settings, store, 1, rows, tmp_path)["forecast"][-1]]
    last = np.datetime64(ahead["last_input_time"][0])
    assert ahead["time"] == [str(last + np.timedelta64(1, "h"))]
    # The fewest rows one forecast needs: one window.
    assert predict(api, "weather/1", rows[:SEQUENCE])["rows"] == 1


def test_alias_reference_follows_the_alias(
    api: TestClient,
    runs: list[ExperimentRecord],
    beijing_rows: list[dict[str, Any]],
    settings: Settings,
):
    registered(api, runs)
    rows = beijing_rows[:SEQUENCE]
    call(api, "PUT", "/models/weather/aliases/champion", json={"version": 1})
    first = predict(api, "weather@champion", rows)
    assert first["version"] == 1
    assert first["predictions"] == predict(api, "weather/1", rows)["predictions"]
    call(api, "PUT", "/models/weather/aliases/champion", json={"version": 2})
    deadline = time.monotonic() + 1.0 + settings.alias_refresh
    while predict(api, "weather@champion", rows)["version"] != 2:
        assert time.monotonic() < deadline, "the moved alias still served version 1"
        time.sleep(0.02)
    moved = predict(api, "weather@champion", rows)["predictions"]
    assert moved == predict(api, "weather/2", rows)["predictions"] != first["predictions"]


def _without(rows, column):
    return [{k: v for k, v in row.items() if k != column} for row in rows]


def _with(rows, index, column, value):
    changed = copy.deepcopy(rows)
    changed[index][column] = value
    return changed


BAD = [
    ("missing column", lambda r: _without(r, "TEMP"), 422, "no column 'TEMP'"),
    (
        "one row lacks one",
        lambda r: _without(r[:1], "TEMP") + r[1:],
        422,
        "rows[1]: unexpected column 'TEMP'",
    ),
    (
        "not a number",
        lambda r: _with(r, 3, "PRES", "high"),
        422,
        "rows[3], column 9 ('PRES'): expected a number, got 'high'",
    ),
    (
        "a list as a value",
        lambda r: _with(r, 2, "Iws", [1]),
        422,
        "rows[2], column 'Iws': expected a number or text",
    ),
    ("unknown wind", lambda r: _with(r, 0, "cbwd", "N"), 422, "expected one of NE, NW, SE, cv"),
    (
        "too few rows",
        lambda r: r[: SEQUENCE - 1],
        422,
        "the request has 7 data rows; the model needs at least 8",
    ),
    ("hours out of order", lambda r: [r[1], r[0], *r[2:]], 422, "rows must be in time order"),
]


@pytest.mark.parametrize(("case", "change", "status", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_rows_are_4xx_naming_the_problem(
    api: TestClient, runs: list[ExperimentRecord], beijing_rows, case, change, status, message
):
    registered(api, runs)
    answer = predict(api, "weather/1", change(beijing_rows[:SEQUENCE]), status)
    assert message in answer["error"]["message"], answer


def test_bad_requests_are_4xx(
    api: TestClient, runs: list[ExperimentRecord], beijing_rows, settings: Settings, store: Store
):
    registered(api, runs)
    rows = beijing_rows[:SEQUENCE]
    horizon = predict(api, "weather/1", rows, 422, horizon=2)["error"]["message"]
    assert "horizon 2 is beyond this model's: it forecasts 1 step(s) ahead" in horizon
    assert "train a model with horizon=2" in horizon
    response = api.post(
        "/api/v1/models/weather/1/predict",
        content=b'{"rows": [{"TEMP": NaN}]}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422 and "NaN is not a JSON number" in response.text
    empty = predict(api, "weather/1", [], 422)["error"]["message"]
    assert "rows" in empty
    few = settings.model_copy(update={"max_predict_rows": SEQUENCE - 1})
    with TestClient(create_app(few, store=store), headers=admin_headers(store)) as limited:
        refused = predict(limited, "weather/1", rows, 422)["error"]["message"]
    assert "8 rows; a predict request takes at most 7 (max_predict_rows)" in refused
    unknown = predict(api, "wether", rows, 404)["error"]["message"]
    assert unknown == "no model named 'wether' in project 'default'"  # other models unnamed
    assert (
        "has no version 7; its versions: 1, 2"
        in predict(api, "weather/7", rows, 404)["error"]["message"]
    )
    assert (
        "has no alias 'prod'; its aliases: none"
        in predict(api, "weather@prod", rows, 404)["error"]["message"]
    )
    assert "version number" in predict(api, "weather/x", rows, 400)["error"]["message"]
    assert "only digits" in predict(api, "weather@12", rows, 400)["error"]["message"]


def test_a_changed_file_is_refused_not_used(
    api: TestClient, runs: list[ExperimentRecord], beijing_rows, blobs: BlobStore, store: Store
):
    registered(api, runs)
    meta = f"{store.get_version('weather', 1).artifact_path}/artifact.json"
    blobs.put_bytes(meta, blobs.get_bytes(meta).replace(b'"seed": 0', b'"seed": 5'))
    answer = predict(api, "weather/1", beijing_rows[:SEQUENCE], 409)
    assert "changed since registration" in answer["error"]["message"]


def test_history_is_the_target_the_forecast_continues(
    api: TestClient, runs: list[ExperimentRecord], beijing_rows
):
    registered(api, runs)
    rows = beijing_rows[:30]
    hours = [
        f"{row['year']}-{row['month']:02d}-{row['day']:02d}T{row['hour']:02d}" for row in rows
    ]
    plain = predict(api, "weather/1", rows)
    assert "history" not in plain
    for extra in ({}, {"horizon": 1}):
        answer = predict(api, "weather/1", rows, history=True, **extra)
        assert answer["predictions"] == predict(api, "weather/1", rows, **extra)["predictions"]
        assert answer["history"] == {
            "target": "temperature (°C)",
            "time": hours,
            "value": [float(row["TEMP"]) for row in rows],
        }
    # Without a horizon, each window's forecast lies on a time of the history or just after.
    assert plain["predictions"]["time"][:-1] == hours[SEQUENCE:]
    assert predict(api, "weather/1", rows, history=False) == plain


def test_history_requests_refuse_bad_input_as_plain_ones(
    api: TestClient, runs: list[ExperimentRecord], beijing_rows
):
    registered(api, runs)
    rows = beijing_rows[:SEQUENCE]
    for case, change, status, message in BAD:
        answer = predict(api, "weather/1", change(rows), status, history=True)
        assert message in answer["error"]["message"], (case, answer)
    horizon = predict(api, "weather/1", rows, 422, horizon=2, history=True)["error"]["message"]
    assert "horizon 2 is beyond this model's" in horizon
    for value in ("yes", None, [True], 2):
        refused = predict(api, "weather/1", rows, 422, history=value)["error"]
        assert "history" in refused["message"] + str(refused.get("details")), refused
