"""MLflow models served by POST /models/{ref}/predict: a scikit-learn model saved by MLflow's
own client, registered as a version of MLflow's format, predicts through a real server in a
process apart from the API; a project that does not allow MLflow models is refused, a model
needing a package not installed here is a 409 naming it, and a model whose pickle kills its
process is a 422 while the API goes on serving."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import httpx
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import uvicorn
from sklearn.linear_model import LinearRegression
from typer.testing import CliRunner

from azuraforge.cli.main import app as cli
from azuraforge.client.environment import TOKEN_VARIABLE
from azuraforge.errors import ConflictError
from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.services.mlflow_serving import MLFLOW_PIPELINE, check_loadable
from azuraforge.platform.services.registry import MODELS, blob_digest
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, settings_on_copy, user_headers
from tests.platform.servers import served_in_thread

TRAIN = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})
TARGET = [1.0, 2.5, 3.0, 4.5]
ROWS = [{"a": 1, "b": 0}, {"a": 2.5, "b": 1}]
"""Rows as a client sends them (integers for a column of doubles, as MLflow's server takes)."""


class _Doubler(mlflow.pyfunc.PythonModel):
    """A python_function model: ``a`` doubled, and how many of the server's variables its
    process sees; a row with ``crash`` set crashes its process (a segfault)."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        if "crash" in model_input.columns:
            os.kill(os.getpid(), signal.SIGSEGV)
        leaked = sum(name.startswith("AZURAFORGE") for name in os.environ)
        return pd.DataFrame({"doubled": model_input["a"] * 2, "leaked": leaked})


class _Exits:
    """A pickle whose loading ends the process at once (``os._exit``), as a hostile or broken
    model may."""

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return os._exit, (7,)


@pytest.fixture(scope="module")
def fitted() -> LinearRegression:
    return LinearRegression().fit(TRAIN, TARGET)


@pytest.fixture(scope="module")
def sklearn_folder(fitted: LinearRegression, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scikit-learn model saved by MLflow's client (a pickle, as MLflow's users save one)."""
    folder = tmp_path_factory.mktemp("mlflow-models") / "sklearn"
    signature = mlflow.models.infer_signature(TRAIN, fitted.predict(TRAIN))
    mlflow.sklearn.save_model(
        fitted, folder, signature=signature, serialization_format="cloudpickle"
    )
    return folder


@pytest.fixture(scope="module")
def server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Store, BlobStore]]:
    """A real server (its URL), its store (projects ``default``, which allows MLflow models,
    and ``other``, which does not) and its blob store."""
    settings: Settings = settings_on_copy(sqlite_template, tmp_path_factory.mktemp("served"))
    store = Store(settings.database_url)
    store.create_project("other")
    app = create_app(settings, store=store)
    with served_in_thread(uvicorn.Config(app, log_level="warning")) as address:
        url = f"http://{address}"
        allowed = httpx.patch(
            f"{url}/api/v1/settings", json={"mlflow_models": True}, headers=admin_headers(store)
        )
        assert allowed.json() == {"project": "default", "mlflow_models": True}
        yield url, store, app.state.blobs
    store.close()


@pytest.fixture(scope="module")
def house(server: tuple[str, Store, BlobStore], sklearn_folder: Path) -> int:
    """The scikit-learn model registered once as version ``house/N`` of ``default`` (its
    number), ``house@champion``: the tests share its process."""
    _, store, blobs = server
    number = _register(store, blobs, "house", sklearn_folder)
    store.set_alias("house", "champion", number, actor="tests")
    return number


def _register(
    store: Store, blobs: BlobStore, model: str, folder: Path, project: str = "default"
) -> int:
    """``folder`` registered as the next version of ``model`` (made if new) of MLflow's
    format, its files copied to the version's own prefix as ``register_version`` copies a
    run's; its number."""
    with contextlib.suppress(ConflictError):  # made by an earlier test
        store.create_model(model, project=project)
    target = f"{MODELS}/{model}/{uuid.uuid4().hex[:12]}"
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        blobs.put_file(path, f"{target}/{path.relative_to(folder).as_posix()}")
    version = store.create_version(
        model, pipeline=MLFLOW_PIPELINE, artifact_path=target,
        artifact_digest=blob_digest(blobs, target), source_experiment_id=None,
        source_experiment_name="", metrics={}, config={}, data_fingerprint="", project=project,
    )  # fmt: skip
    return version.version


def _predict(url: str, ref: str, headers: dict[str, str], **body: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/models/{ref}/predict", json={"rows": ROWS, **body}, headers=headers,
        timeout=120,
    )  # fmt: skip


def test_sklearn_model_predicts_in_its_own_process(
    server: tuple[str, Store, BlobStore],
    house: int,
    fitted: LinearRegression,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, store, _ = server
    headers = user_headers(store, "vera", role="viewer")
    answer = _predict(url, "house@champion", headers)
    assert answer.status_code == 200, answer.text
    expected = fitted.predict(pd.DataFrame(ROWS, dtype=float))
    body = answer.json()
    assert (body["model"], body["version"], body["rows"]) == ("house", house, 2)
    np.testing.assert_allclose(body["predictions"]["prediction"], expected)
    again = _predict(url, f"house/{house}", headers, history=True)  # the same process
    assert again.json()["predictions"] == body["predictions"]
    assert again.json()["history"] is None

    refused = _predict(url, "house@champion", headers, rows=[{"a": 1.0}])
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "INVALID_INPUT"
    assert "b" in refused.json()["error"]["message"]
    horizon = _predict(url, "house@champion", headers, horizon=2)
    assert horizon.status_code == 422 and "horizon" in horizon.json()["error"]["message"]
    (tmp_path / "rows.csv").write_text("a,b\n1,0\n2.5,1\n")  # read as text, sent as text
    monkeypatch.setenv(TOKEN_VARIABLE, headers["Authorization"].removeprefix("Bearer "))
    printed = CliRunner().invoke(
        cli, ["models", "predict", "house@champion", str(tmp_path / "rows.csv"), "--api-url", url]
    )
    assert printed.exit_code == 0, printed.output
    assert printed.output.splitlines()[0] == "prediction"
    np.testing.assert_allclose([float(v) for v in printed.output.split()[1:]], expected)
    job = httpx.post(
        f"{url}/api/v1/models/house@champion/predictions", json={"rows": ROWS},
        headers=admin_headers(store),
    )  # fmt: skip
    assert job.status_code == 409 and "POST /models/house@champion/predict serves it" in job.text


def test_project_that_does_not_allow_mlflow_models_is_refused(
    server: tuple[str, Store, BlobStore], sklearn_folder: Path
) -> None:
    url, store, blobs = server
    number = _register(store, blobs, "house", sklearn_folder, project="other")
    headers = admin_headers(store, project="other")
    answer = _predict(url, f"house/{number}", headers)
    assert answer.status_code == 403
    message = answer.json()["error"]["message"]
    assert "does not allow MLflow models" in message
    assert 'PATCH /api/v1/settings {"mlflow_models": true}' in message
    settings = httpx.get(f"{url}/api/v1/settings", headers=headers)
    assert settings.json() == {"project": "other", "mlflow_models": False}


def test_settings_are_changed_by_project_admins_alone(
    server: tuple[str, Store, BlobStore],
) -> None:
    url, store, _ = server
    editor = user_headers(store, "eddie", project="other")
    change = httpx.patch(f"{url}/api/v1/settings", json={"mlflow_models": True}, headers=editor)
    assert change.status_code == 403
    wrong = httpx.patch(
        f"{url}/api/v1/settings", json={"mlflow_models": "yes"},
        headers=admin_headers(store, project="other"),
    )  # fmt: skip
    assert wrong.status_code == 422
    assert httpx.get(f"{url}/api/v1/settings", headers=editor).json()["mlflow_models"] is False


def test_flavor_whose_package_is_missing_is_409_naming_it(
    server: tuple[str, Store, BlobStore], tmp_path: Path
) -> None:
    url, store, blobs = server
    (tmp_path / "MLmodel").write_text(
        "flavors:\n"
        "  python_function:\n    loader_module: mlflow.xgboost\n    data: model.xgb\n"
        "  xgboost:\n    xgb_version: 2.1.1\n    data: model.xgb\n"
    )
    (tmp_path / "requirements.txt").write_text("mlflow==3.17.2\nxgboost==2.1.1\n")
    (tmp_path / "model.xgb").write_bytes(b"{}")
    number = _register(store, blobs, "boosted", tmp_path)
    answer = _predict(url, f"boosted/{number}", admin_headers(store))
    assert answer.status_code == 409
    message = answer.json()["error"]["message"]
    assert "xgboost==2.1.1" in message and "not installed" in message


def test_pickle_that_kills_its_process_leaves_the_api_serving(
    server: tuple[str, Store, BlobStore], sklearn_folder: Path, house: int, tmp_path: Path
) -> None:
    url, store, blobs = server
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    for path in sklearn_folder.iterdir():
        (hostile / path.name).write_bytes(path.read_bytes())
    (hostile / "model.pkl").write_bytes(pickle.dumps(_Exits()))
    number = _register(store, blobs, "hostile", hostile)
    headers = admin_headers(store)
    answer = _predict(url, f"hostile/{number}", headers)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "MODEL_FAILED"
    assert "ended (exit code 7) while loading it" in error["message"]
    assert str(hostile) not in error["message"]
    assert _predict(url, f"house/{house}", headers).status_code == 200
    assert httpx.get(f"{url}/api/v1/health", headers=headers).status_code == 200


def test_python_function_model_crashing_while_predicting(
    server: tuple[str, Store, BlobStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, store, blobs = server
    monkeypatch.setenv("AZURAFORGE_TEST_SECRET", "s3cret")  # the server's environment
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # loaded without the tests
    try:
        mlflow.pyfunc.save_model(
            tmp_path / "doubler", python_model=_Doubler(), pip_requirements=["mlflow", "pandas"]
        )
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    number = _register(store, blobs, "doubler", tmp_path / "doubler")
    headers = admin_headers(store)
    answer = _predict(url, f"doubler/{number}", headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == {"doubled": [2.0, 5.0], "leaked": [0, 0]}

    crashed = _predict(url, f"doubler/{number}", headers, rows=[{"a": 1, "crash": 1}])
    assert crashed.status_code == 422
    assert "crashed (SIGSEGV) while predicting" in crashed.json()["error"]["message"]
    assert _predict(url, f"doubler/{number}", headers).status_code == 200  # a new process


def test_requirements_are_read_without_loading_the_model(
    server: tuple[str, Store, BlobStore], house: int, tmp_path: Path
) -> None:
    _, store, _ = server
    version = store.get_version("house", house)
    (tmp_path / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: x\n")
    (tmp_path / "requirements.txt").write_text(
        "# made by MLflow\n-r extra.txt\n--index-url https://example.org\n"
        "mlflow-skinny==3.17.2\npandas  # comment\ngit+https://example.org/x.git\n"
        "azuraforge-absent==1.0; extra == 'gpu'\nazuraforge-absent; sys_platform == 'win32'\n"
        "azuraforge-absent==2.0\n"
    )
    with pytest.raises(ConflictError, match=r"needs azuraforge-absent==2\.0, not installed"):
        check_loadable(tmp_path, version)
    (tmp_path / "requirements.txt").write_text("pandas\n")
    check_loadable(tmp_path, version)  # and MLflow: mlflow-skinny is installed
    (tmp_path / "MLmodel").unlink()
    (tmp_path / "MLmodel").mkdir()
    with pytest.raises(ConflictError, match="MLmodel is not a file that reads"):
        check_loadable(tmp_path, version)


def test_turning_mlflow_models_off_refuses_a_model_already_served(
    server: tuple[str, Store, BlobStore], house: int
) -> None:
    url, store, _ = server
    headers = admin_headers(store)
    assert _predict(url, f"house/{house}", headers).status_code == 200
    try:
        httpx.patch(f"{url}/api/v1/settings", json={"mlflow_models": False}, headers=headers)
        refused = _predict(url, f"house/{house}", headers)
        assert refused.status_code == 403
        assert "does not allow MLflow models" in refused.json()["error"]["message"]
    finally:
        httpx.patch(f"{url}/api/v1/settings", json={"mlflow_models": True}, headers=headers)
    assert _predict(url, f"house/{house}", headers).status_code == 200
