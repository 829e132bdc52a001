"""The fixtures MLflow's vendored tests ask for, ``mlflow_client`` and ``cli_env``, on the server
``served.py`` describes (ours unless ``AZURAFORGE_CONFORMANCE_MLFLOW`` names ``mlflow``)."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import uvicorn
from mlflow import MlflowClient
from mlflow.tracking import fluent
from mlflow.tracking._tracking_service import utils as tracking_utils

from azuraforge.platform.api.app import create_app
from azuraforge.platform.store import Store
from tests.platform.api.mlflow_rest.served import MlflowServers, mlflow_target, requests
from tests.platform.fixtures import admin_headers, short_settings
from tests.platform.servers import served_in_thread

projects = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    """MLflow's marker of a test whose model may infer its pip requirements (no effect here)."""
    config.addinivalue_line(
        "markers", "allow_infer_pip_requirements_fallback: MLflow's (vendored tests)"
    )


@pytest.fixture(scope="module")
def our_server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Store]]:
    """Our server (URL and store) for the module, on a copy of the SQLite template."""
    home = tmp_path_factory.mktemp("mlflow-rest")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    settings = short_settings(f"sqlite:///{home / 'azuraforge.db'}", home)
    store = Store(settings.database_url)
    app = create_app(settings, store=store)
    with served_in_thread(uvicorn.Config(app, log_level="warning")) as address:
        yield f"http://{address}", store
    store.close()


@pytest.fixture(scope="session")
def mlflow_servers() -> Iterator[MlflowServers | None]:
    """The factory of ``mlflow server``s when the tests run against MLflow's, else ``None``."""
    target = mlflow_target()
    if target is None:
        yield None
        return
    servers = MlflowServers(target)
    yield servers
    servers.close()


@pytest.fixture
def tracking_server_uri(
    request: pytest.FixtureRequest,
    mlflow_servers: MlflowServers | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A server as fresh as a new database: ``mlflow server`` on its own SQLite, or a new
    project of ours whose admin's token MLflow's client (``MLFLOW_TRACKING_TOKEN``) and the
    tests' ``requests`` send."""
    requests.headers.pop("Authorization", None)
    if mlflow_servers is not None:
        url, pid = mlflow_servers.start(tmp_path)
        yield url
        mlflow_servers.stop(pid)
        return
    url, store = request.getfixturevalue("our_server")
    project = f"conformance-{next(projects)}"
    store.create_project(project)
    headers = admin_headers(store, project)
    requests.headers.update(headers)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", headers["Authorization"].removeprefix("Bearer "))
    yield url


@pytest.fixture
def mlflow_client(
    tracking_server_uri: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MlflowClient]:
    """MLflow's client aimed at the test's server, as MLflow's fixture gives it. MLflow's
    process-wide state another test module may have left is cleared first: its cache of each
    run's artifact store by run id (the ids of two servers meet), the active experiment."""
    tracking_utils._artifact_repos_cache.clear()
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    yield MlflowClient(tracking_server_uri)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    tracking_utils._artifact_repos_cache.clear()


@pytest.fixture
def cli_env(mlflow_client: MlflowClient) -> dict[str, str]:
    """The environment of MLflow's CLI aimed at the test's server (MLflow's, with the token)."""
    bearer = str(requests.headers.get("Authorization", ""))
    token = {"MLFLOW_TRACKING_TOKEN": bearer.removeprefix("Bearer ")} if bearer else {}
    return {
        "LC_ALL": "en_US.UTF-8",
        "LANG": "en_US.UTF-8",
        "MLFLOW_TRACKING_URI": mlflow_client.tracking_uri,
        **token,
    }
