"""A project's data folder is its own. Projects ``default`` and ``beta`` each hold
``good.csv`` (rows of their own, with a column naming the project) and a file only they
have. Each project calls every field of every operation of the live OpenAPI that names a
file, the places found as :mod:`test_file_settings` finds them, for each file setting an
installed pipeline or a stream declares (:func:`file_settings`); a field names a file when it
takes ``good.csv`` and refuses a file that does not exist. There the project's own file and
a registered dataset are accepted; the other project's file, by its name, by a way from the
project's folder to it or by its full path, is refused (4xx) without quoting the other's data
or naming a server folder. Then at the worker: every job the API queued opens its own
project's ``good.csv``; a twin of it naming the other project's file instead (as a direct
write to the store, or an older server, would store it) fails, saying so, quoting nothing of
the other's; no prediction job holds the other's rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from azuraforge.apps import get_pipeline
from azuraforge.apps.registry import discover
from azuraforge.platform.api.app import API_PREFIX, create_app
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.files import file_settings
from azuraforge.platform.jobs.run_files import keep_folder
from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.services.streams.job import STREAM
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DEFAULT_PROJECT, ExperimentQuery, ExperimentRecord, Store
from azuraforge.platform.store.states import COMPLETED, PREDICTION, QUEUED, RUN, TRIAL
from tests.platform.api.test_file_settings import (
    FILE_CARRIERS,
    VALID_BODIES,
    file_places,
    operations_with_bodies,
    send_body,
)
from tests.platform.fixtures import admin_headers
from tests.platform.registry.conftest import WEATHER, Trained, mirror, trained

__all__ = ["mirror", "trained"]  # the registry tests' fixtures, used here too

BETA = "beta"
PROJECTS = (DEFAULT_PROJECT, BETA)
OWN, MISSING, DATASET = "good.csv", "missing.csv", "london-daily"
FILE_KEYS = sorted(
    {key for name in discover() for key in file_settings(get_pipeline(name).Config)}
    | set(file_settings(StreamConfig))
)
"""Every setting that names a file, of every installed pipeline and of a stream."""


def folder_of(settings: Settings, project: str) -> Path:
    """The data folder of ``project``, where docs/platform.md says it is."""
    if project == DEFAULT_PROJECT:
        return settings.data_dir
    return settings.data_dir / "projects" / project


def marker(project: str) -> str:
    """A column only ``project``'s files have: a text quoting one of them shows it."""
    return f"only_{project}"


def other(project: str) -> str:
    return BETA if project == DEFAULT_PROJECT else DEFAULT_PROJECT


def secret(settings: Settings, project: str) -> Path:
    """The file only ``project`` has."""
    return folder_of(settings, project) / f"secret-{project}.csv"


@pytest.fixture
def client(settings: Settings, store: Store, trained: list[Trained]) -> Iterator[TestClient]:
    """The API; in each project's folder ``good.csv`` (the weather model's rows, and the
    project's marker column) and its secret file, and in each project the model ``weather``
    (version 1, alias ``champion``) of a run ``run-0``."""
    rows = next(trained[0].folder.rglob("*.csv")).read_text().splitlines()
    store.create_project(BETA)
    with TestClient(create_app(settings, store=store)) as client:
        for project in PROJECTS:
            folder_of(settings, project).mkdir(parents=True, exist_ok=True)
            marked = [f"{rows[0]},{marker(project)}", *(f"{row},1" for row in rows[1:])]
            (folder_of(settings, project) / OWN).write_text("\n".join(marked) + "\n")
            secret(settings, project).write_text(f"date,{marker(project)}\n2020-01-01,42\n")
            _completed_run(store, settings, trained[0], project)
            client.headers.update(admin_headers(store, project))
            client.post(f"{API_PREFIX}/models", json={"name": "weather"})
            client.post(f"{API_PREFIX}/models/weather/versions", json={"experiment": "run-0"})
            client.put(f"{API_PREFIX}/models/weather/aliases/champion", json={"version": 1})
        yield client


def _completed_run(store: Store, settings: Settings, model: Trained, project: str) -> None:
    """Run ``run-0`` of ``project``, completed with ``model``'s files."""
    record = store.create_experiment(WEATHER, model.config, name="run-0", project=project)
    keep_folder(open_blobs(settings), model.folder, record.id)
    lease = store.claim(record.id, "test-worker", settings.lease_ttl)
    assert lease is not None
    result = {"metrics": model.result.metrics, "artifact_dir": "artifact"}
    store.finish(lease, COMPLETED, result=result)


def test_a_project_reads_only_its_own_data_folder_and_the_shared_datasets(
    client: TestClient, store: Store, settings: Settings
) -> None:
    operations = dict(operations_with_bodies(client.get("/openapi.json").json()))
    assert set(operations) == set(VALID_BODIES), "give each new operation a valid body there"
    carried: set[tuple[str, str]] = set()
    for project in PROJECTS:
        client.headers.update(admin_headers(store, project))
        tried: set[str] = set()  # a string field is a place for every file key
        for key, schema in operations.items():
            for file_key in FILE_KEYS:
                for field, place in file_places(schema, VALID_BODIES[key], file_key):
                    body = json.dumps([key, place(OWN)], sort_keys=True)
                    if body not in tried and _names_a_file(client, key, place):
                        _refuses_the_others(client, key, field, place, settings, project)
                        carried.add((key, field))
                    tried.add(body)
    assert carried >= FILE_CARRIERS, "each way a file can be named was tried"
    for project in PROJECTS:
        _worker_reads_only_its_projects(store, settings, project)


def _names_a_file(client: TestClient, key: str, place: Any) -> bool:
    """Whether this place takes a file of the project's folder and refuses a missing one."""
    if not send_body(client, key, place(OWN)).is_success:
        return False
    return send_body(client, key, place(MISSING)).is_client_error


def _refuses_the_others(
    client: TestClient, key: str, field: str, place: Any, settings: Settings, project: str
) -> None:
    """The other project's file is refused here, by every name; a dataset is not."""
    for value in _names_of_the_others_file(settings, project):
        response = send_body(client, key, place(value))
        assert response.is_client_error, (project, key, value, response.text)
        _assert_tells_nothing_of_the_other(response.text, value, settings, project)
    if isinstance(place(DATASET)[field], dict):  # a setting, not a file to copy (inputs)
        response = send_body(client, key, place(DATASET))
        assert response.is_success, (project, key, field, response.text)


def _names_of_the_others_file(settings: Settings, project: str) -> list[str]:
    """The other project's secret file: by its name, from this project's folder, in full."""
    path = secret(settings, other(project))
    return [path.name, os.path.relpath(path, folder_of(settings, project)), str(path)]


def _assert_tells_nothing_of_the_other(
    text: str, sent: str, settings: Settings, project: str
) -> None:
    assert marker(other(project)) not in text, (project, sent, text)
    shown = text.replace(sent, "")  # the value sent may be said back, no other path
    for folder in {settings.home, settings.home.resolve()}:
        assert str(folder) not in shown, (project, sent, text)


def _worker_reads_only_its_projects(store: Store, settings: Settings, project: str) -> None:
    """A job of each kind and pipeline the API queued in ``project`` on ``good.csv`` opens
    its project's; its twins naming the other project's file fail at the worker; no
    prediction job holds the other's rows."""
    kinds = (RUN, TRIAL, STREAM, PREDICTION)
    query = ExperimentQuery(project=project, statuses=(QUEUED,), kinds=kinds, limit=500)
    jobs = [store.get_experiment(job.id) for job in store.list_experiments(query).items]
    opened = set()
    for job in jobs:
        if job.kind == PREDICTION:  # its worker reads the copy its request made
            inputs = open_blobs(settings).get_bytes(job.config["inputs"]).decode()
            assert marker(other(project)) not in inputs
        elif (job.kind, job.pipeline) not in opened and _opens_own(store, settings, job):
            opened.add((job.kind, job.pipeline))  # one job of each: the same files
    kinds_tried = {kind for kind, _ in opened}
    assert kinds_tried == {RUN, TRIAL, STREAM}, "a job of each kind that opens files was tried"


def _opens_own(store: Store, settings: Settings, job: ExperimentRecord) -> bool:
    """Whether ``job`` names ``good.csv``; if so, it opens its own project's, and its twins
    naming the other project's file in its place fail."""
    config = StreamConfig if job.kind == STREAM else get_pipeline(job.pipeline).Config
    names = [name for name in file_settings(config) if job.config.get(name) == OWN]
    for name in names:
        for value in _names_of_the_others_file(settings, job.project):
            twin = store.create_experiment(
                job.pipeline, {**job.config, name: value}, project=job.project, kind=job.kind,
                study_id=job.study_id, trial_number=job.trial_number,
            )  # fmt: skip
            ended = _executed(store, settings, twin)
            assert ended.error is not None and "data folder" in ended.error, ended.error
            _assert_tells_nothing_of_the_other(ended.error, value, settings, job.project)
    if names:
        ended = _executed(store, settings, job)
        assert "data folder" not in str(ended.error), ended.error  # its own file opened
        assert marker(other(job.project)) not in str(ended.error), ended.error
    return bool(names)


def _executed(store: Store, settings: Settings, job: ExperimentRecord) -> ExperimentRecord:
    """``job`` run by a worker, as it ended."""
    lease = store.claim(job.id, "test-worker", settings.lease_ttl)
    assert lease is not None
    execute(store, lease, settings)
    return store.get_experiment(job.id)
