"""Path escapes sent into every field of every route that takes settings, the routes found in
the live OpenAPI: none may reach a worker.

Each operation with a JSON body is covered (a new one fails the test until it has a valid
body below). Each string field of its body, each entry of a settings object (as a value, a
list of values or a categorical's choices) and each row field gets each escape; the valid body
with a file of the data folder in that place is sent first and must be accepted, so a refusal
is the path's, not another mistake's. Then every run, study, prediction job and stream stored is
opened as a worker opens it: each names files of the data folder only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from azuraforge.apps import get_pipeline
from azuraforge.platform.api.app import API_PREFIX, create_app
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.files import DataFolder, file_settings
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.services.streams.job import STREAM
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentQuery, Store
from azuraforge.platform.store.states import PREDICTION, RUN, TRIAL
from tests.platform.fixtures import admin_headers
from tests.platform.registry.conftest import Trained, completed_run, mirror, trained

__all__ = ["mirror", "trained"]  # the registry tests' fixtures, used here too

SECRET = "date,secret\n2020-01-01,42\n"
ESCAPES = [
    "/etc/passwd",
    "../secret.csv",
    "../../../../../../etc/passwd",
    "sub/../../secret.csv",
    "link-out.csv",
    "file:///etc/passwd",
    "good.csv\x00../../secret.csv",
    "~/secret.csv",
    "~root/.bashrc",
]
VALID_BODIES: dict[str, dict[str, Any]] = {
    "POST /runs": {"pipeline": "forecaster", "config": {"csv": "good.csv", "target": "x"}},
    "POST /external-runs": {"pipeline": "my-script", "params": {"lr": 0.1}},
    "POST /runs/{experiment_id}/batch": {},
    "POST /runs/{experiment_id}/end": {"status": "completed"},
    "POST /studies": {
        "pipeline": "forecaster",
        "config": {"csv": "good.csv", "target": "x"},
        "space": {"csv": {"type": "categorical", "choices": ["good.csv"]}},
        "objective": "val_loss",
        "n_trials": 1,
    },
    "POST /models": {"name": "weather-model"},
    "POST /models/{name}/versions": {"experiment": "run-0"},
    "PUT /models/{name}/aliases/{alias}": {"version": 1},
    "POST /models/{name}/aliases/{alias}/rollback": {},
    "POST /models/{ref}/predict": {"rows": [{"date": "2020-01-01"}]},
    "POST /models/{ref}/predictions": {"inputs": "good.csv"},
    "POST /streams": {"config": {"source": "good.csv", "price_column": "actual"}},
    "POST /streams/{stream_id}/triggers": {"action": "retrain", "reason": "good.csv"},
    "POST /streams/{stream_id}/predict": {"closes": [1.0] * 30},
    "POST /auth/login": {"name": "ana", "password": "good.csv"},
    "POST /auth/project": {"project": "good.csv"},
    "POST /auth/projects": {"project": "lab"},
    "PUT /access/members/{user}": {"role": "viewer"},
    "POST /access/tokens": {"name": "good.csv"},
    "PATCH /runs/{experiment_id}": {"name": "good.csv", "notes": "good.csv"},
    "PUT /runs/{experiment_id}/tags/{key}": {"value": "good.csv"},
    "POST /chat": {"message": "good.csv"},
    "POST /chat/turns/{turn_id}/feedback": {"verdict": "good"},
    "PATCH /assist/examples/{example_id}": {"output": "good.csv", "tests": "good.csv"},
    "POST /assist/fine-tunes": {"expert": "python"},
    "PATCH /settings": {"mlflow_models": False},
    "PATCH /server/settings": {"max_predict_rows": 500},
}
PATH_VALUES = {"name": "weather", "ref": "weather", "alias": "champion", "stream_id": "1",
               "user": "admin", "key": "data", "turn_id": "1",
               "example_id": "1"}  # fmt: skip
FILE_FIELDS = {"config", "grid", "space", "inputs"}
"""The fields where a value names a file; elsewhere (a name, a description) it is text."""
FILE_CARRIERS = {
    ("POST /runs", "config"),
    ("POST /runs", "grid"),
    ("POST /studies", "config"),
    ("POST /studies", "space"),
    ("POST /models/{ref}/predictions", "inputs"),
    ("POST /streams", "config"),
}
FILE_KEYS = {"POST /streams": "source"}
"""The key of a settings object that names a file, where it is not ``csv``."""


@pytest.fixture
def client(settings: Settings, store: Store, trained: list[Trained]) -> Iterator[TestClient]:
    """The API over a store with model ``weather`` (version 1, alias ``champion``) and a data
    folder holding ``good.csv`` (the weather model's rows) and ``link-out.csv`` (a link to
    ``secret.csv`` beside the folder)."""
    data = settings.data_dir
    (data / "sub").mkdir(parents=True, exist_ok=True)
    (data / "good.csv").write_text(next(trained[0].folder.rglob("*.csv")).read_text())
    (data.parent / "secret.csv").write_text(SECRET)
    (data / "link-out.csv").symlink_to(data.parent / "secret.csv")
    completed_run(store, settings, trained[0], "run-0")
    with TestClient(create_app(settings, store=store), headers=admin_headers(store)) as client:
        client.post(f"{API_PREFIX}/models", json={"name": "weather"})
        client.post(f"{API_PREFIX}/models/weather/versions", json={"experiment": "run-0"})
        client.put(f"{API_PREFIX}/models/weather/aliases/champion", json={"version": 1})
        yield client


def test_no_path_escape_in_any_settings_field_reaches_a_worker(
    client: TestClient, store: Store, settings: Settings
) -> None:
    spec = client.get("/openapi.json").json()
    operations = dict(operations_with_bodies(spec))
    assert set(operations) == set(VALID_BODIES), "give each new operation a valid body here"
    carried: set[tuple[str, str]] = set()
    for key, schema in operations.items():
        for field, place in file_places(schema, VALID_BODIES[key], FILE_KEYS.get(key, "csv")):
            if not send_body(client, key, place("good.csv")).is_success:
                continue  # this field or shape cannot name a file
            for escape in ESCAPES:
                response = send_body(client, key, place(escape))
                if field in FILE_FIELDS:
                    assert response.status_code == 422, (key, field, escape, response.text)
            carried.add((key, field))
    assert carried >= FILE_CARRIERS, "each way a file can be named was tried"
    _assert_workers_open_nothing_outside(store, settings)


def operations_with_bodies(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each operation of ``spec`` taking a JSON body, as ``"POST /path"`` and its schema; not
    the deprecated paths of the run routes, the same routes as at their own paths."""
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content and not operation.get("deprecated"):
                short = path.removeprefix(API_PREFIX).replace("{ref:path}", "{ref}")
                short = short.replace("{name:path}", "{name}")
                schema = _resolve(spec, content["application/json"]["schema"])
                yield f"{method.upper()} {short}", schema


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def file_places(
    schema: dict[str, Any], valid: dict[str, Any], key: str
) -> Iterator[tuple[str, Any]]:
    """Fields, each with a function making a body with a value in it: each string field, and
    each settings object's file setting (``key``) as a value, a list and a categorical's
    choices (a body declared per pipeline, a ``oneOf``: the fields of every branch)."""
    fields = dict(schema.get("properties", {}))
    for branch in schema.get("oneOf", []):
        fields.update(branch.get("properties", {}))
    for field, declared in fields.items():
        kinds = {declared.get("type")} | {s.get("type") for s in declared.get("anyOf", [])}
        if "string" in kinds:
            yield field, lambda value, field=field: {**valid, field: value}
        if "object" in kinds:
            for shape in (_value, _listed, _categorical):
                yield field, lambda value, field=field, shape=shape: {
                    **valid, field: {**valid.get(field, {}), key: shape(value)}
                }  # fmt: skip


def _value(value: str) -> Any:
    return value


def _listed(value: str) -> list[str]:
    return [value]


def _categorical(value: str) -> dict[str, Any]:
    return {"type": "categorical", "choices": [value]}


def send_body(client: TestClient, key: str, body: dict[str, Any]) -> Any:
    """The response of operation ``key`` (``"POST /path"``, its path values filled) to
    ``body``."""
    method, path = key.split(" ", 1)
    for name, value in PATH_VALUES.items():
        path = path.replace(f"{{{name}}}", value)
    return client.request(method, f"{API_PREFIX}{path}", json=body)


def _assert_workers_open_nothing_outside(store: Store, settings: Settings) -> None:
    folder = DataFolder(settings.data_dir)
    query = ExperimentQuery(kinds=(RUN, TRIAL, PREDICTION, STREAM), limit=500)
    runs = store.list_experiments(query).items
    kinds = {run.kind for run in runs}
    assert kinds == {RUN, TRIAL, PREDICTION, STREAM}, "the valid bodies queued jobs"
    for run in runs:
        if run.kind == PREDICTION:
            inputs = open_blobs(settings).get_bytes(run.config["inputs"]).decode()
            assert SECRET not in inputs
        else:
            config = StreamConfig if run.kind == STREAM else get_pipeline(run.pipeline).Config
            opened = folder.open(config, run.config)
            for name in file_settings(config):
                assert Path(opened[name]).resolve().is_relative_to(settings.data_dir.resolve())
