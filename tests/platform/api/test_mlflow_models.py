"""MLflow 3's logged models and datasets through MLflow's own client, unchanged, against this
server (test_mlflow's server, one for the module): ``mlflow.sklearn.autolog()`` then ``fit``,
``log_model`` and ``models:/m-<id>`` loads, the logged-model calls, ``log_input`` and
``search_datasets``; another project sees none of it; bad input answers in MLflow's form."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.api.test_mlflow import (  # noqa: F401 (fixtures)
    _auth,
    server,
    tracking,
)
from tests.platform.fixtures import admin_headers, short_settings

MODELS = "/api/2.0/mlflow/logged-models"


@pytest.fixture(scope="module")
def mlflow_settings(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The server's settings, on its own copy of the store; files up to 1 MiB (autolog
    uploads the estimator's HTML page beside the model)."""
    home = tmp_path_factory.mktemp("mlflow-models")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    return short_settings(f"sqlite:///{home / 'azuraforge.db'}", home, max_artifact_bytes=2**20)


def _data() -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(20, dtype=float).reshape(10, 2)
    return x, x @ np.array([1.5, -2.0]) + 3.0


@pytest.fixture
def no_autolog() -> object:
    """Autologging is switched off again after the test (it patches scikit-learn)."""
    yield None
    mlflow.sklearn.autolog(disable=True)


def test_autolog_then_fit_logs_params_metrics_and_the_model(
    tracking: MlflowClient,  # noqa: F811
    no_autolog: object,
) -> None:
    x, y = _data()
    mlflow.set_experiment("autologged")
    mlflow.sklearn.autolog(log_input_examples=False, silent=False)
    with mlflow.start_run() as run:
        LinearRegression().fit(x, y)
    got = tracking.get_run(run.info.run_id)
    assert got.data.params["fit_intercept"] == "True"
    assert got.data.metrics["training_r2_score"] == pytest.approx(1.0)
    [output] = got.outputs.model_outputs
    model = tracking.get_logged_model(output.model_id)
    assert model.status == LoggedModelStatus.READY and model.source_run_id == run.info.run_id
    assert model.params["fit_intercept"] == "True"
    assert {m.key for m in model.metrics} >= {"training_r2_score", "training_score"}
    [dataset] = got.inputs.dataset_inputs  # the training data, as autolog logs it
    assert {t.key: t.value for t in dataset.tags}["mlflow.data.context"] == "train"
    loaded = mlflow.sklearn.load_model(f"models:/{model.model_id}")
    assert loaded.predict(x) == pytest.approx(y)


def test_log_model_loads_back_by_model_and_run_uri(
    tracking: MlflowClient,  # noqa: F811
) -> None:
    x, y = _data()
    fitted = LinearRegression().fit(x, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(fitted, name="regressor", params={"alpha": "0"},
                                        serialization_format="cloudpickle")  # fmt: skip
    assert info.model_id.startswith("m-") and info.run_id == run.info.run_id
    model = tracking.get_logged_model(info.model_id)
    assert model.name == "regressor" and model.status == LoggedModelStatus.READY
    assert model.artifact_location.endswith(f"/{run.info.run_id}/artifacts/models/{info.model_id}")
    for uri in (f"models:/{info.model_id}", f"runs:/{run.info.run_id}/regressor"):
        assert mlflow.sklearn.load_model(uri).predict(x) == pytest.approx(fitted.predict(x))
    assert mlflow.pyfunc.load_model(info.model_uri).predict(x) == pytest.approx(y)


def test_search_get_tags_params_finalize_and_delete(
    tracking: MlflowClient,  # noqa: F811
) -> None:
    experiment = mlflow.set_experiment("searched")
    with mlflow.start_run() as run:
        first = mlflow.initialize_logged_model(name="first", model_type="agent", tags={"t": "a"})
        second = mlflow.initialize_logged_model(name="second", params={"lr": "0.1"})
        mlflow.log_metric("acc", 0.7, model_id=first.model_id)
        mlflow.log_metric("acc", 0.9, model_id=second.model_id)
        test_set = mlflow.data.from_numpy(_data()[0], name="test-set")
        mlflow.log_metric("acc", 0.5, model_id=second.model_id, dataset=test_set)
    ids = [experiment.experiment_id]
    on_test_set = mlflow.search_logged_models(
        ids, filter_string="metrics.acc < 0.6", datasets=[{"dataset_name": "test-set"}],
        output_format="list")  # fmt: skip
    assert [m.name for m in on_test_set] == ["second"]
    assert [m.name for m in mlflow.search_logged_models(
        ids, datasets=[{"dataset_name": "test-set", "dataset_digest": test_set.digest}],
        output_format="list")] == ["second"]  # fmt: skip
    [tested] = [m for m in on_test_set[0].metrics if m.dataset_name]
    assert (tested.value, tested.dataset_digest) == (0.5, test_set.digest)
    assert [m.name for m in mlflow.search_logged_models(ids, output_format="list")] == [
        "second", "first"]  # fmt: skip
    found = mlflow.search_logged_models(ids, filter_string="metrics.acc > 0.8 AND name = 'second'",
                                        output_format="list")  # fmt: skip
    assert [m.model_id for m in found] == [second.model_id]
    assert found[0].metrics[0].value == 0.9 and found[0].metrics[0].run_id == run.info.run_id
    inputs = tracking.get_run(run.info.run_id).inputs  # the client logs what the metrics used
    assert [d.dataset.name for d in inputs.dataset_inputs] == ["test-set"]

    def by_acc(**order: object) -> list[str]:
        ordered = [{"field_name": "metrics.acc", **order}]
        return [m.name for m in mlflow.search_logged_models(ids, order_by=ordered,
                                                            output_format="list")]  # fmt: skip

    assert by_acc(ascending=True) == ["second", "first"]  # second's latest: 0.5 on test-set
    assert by_acc(ascending=False, dataset_name="test-set") == ["second", "first"]  # first: none
    assert [m.name for m in mlflow.search_logged_models(
        ids, filter_string="model_type = 'agent' AND tags.t = 'a'", output_format="list")] == [
        "first"]  # fmt: skip
    tracking.set_logged_model_tags(first.model_id, {"t": "b", "u": "c"})
    tracking.delete_logged_model_tag(first.model_id, "u")
    assert tracking.get_logged_model(first.model_id).tags["t"] == "b"
    with pytest.raises(MlflowException) as no_tag:
        tracking.delete_logged_model_tag(first.model_id, "u")
    assert no_tag.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    mlflow.log_model_params({"lr": "0.1", "layers": "2"}, model_id=second.model_id)
    assert tracking.get_logged_model(second.model_id).params == {"layers": "2", "lr": "0.1"}
    with pytest.raises(MlflowException) as changed:
        mlflow.log_model_params({"lr": "0.2"}, model_id=second.model_id)
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    assert first.status == LoggedModelStatus.PENDING
    done = tracking.finalize_logged_model(first.model_id, LoggedModelStatus.FAILED)
    assert done.status == LoggedModelStatus.FAILED
    tracking.delete_logged_model(first.model_id)
    with pytest.raises(MlflowException) as gone:
        tracking.get_logged_model(first.model_id)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    kept = httpx.get(f"{tracking.tracking_uri}{MODELS}/{first.model_id}",
                     params={"allow_deleted": "true"}, headers=_auth())  # fmt: skip
    assert kept.json()["model"]["info"]["name"] == "first"
    assert [m.name for m in mlflow.search_logged_models(ids, output_format="list")] == ["second"]


def test_log_input_and_search_datasets(
    tracking: MlflowClient,  # noqa: F811
) -> None:
    experiment = mlflow.set_experiment("datasets")
    x, y = _data()
    dataset = mlflow.data.from_numpy(x, targets=y, name="squares")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
        mlflow.log_input(dataset, context="training")  # kept once
    [used] = tracking.get_run(run.info.run_id).inputs.dataset_inputs
    assert used.dataset.name == "squares" and used.dataset.digest == dataset.digest
    assert used.dataset.source_type == "code"
    searched = f"{tracking.tracking_uri}/api/2.0/mlflow/experiments/search-datasets"
    answer = httpx.post(searched, json={"experiment_ids": [experiment.experiment_id, "0"]},
                        headers=_auth())  # fmt: skip
    assert answer.json() == {"dataset_summaries": [{
        "experiment_id": experiment.experiment_id, "name": "squares", "digest": dataset.digest,
        "context": "training"}]}  # fmt: skip
    for ids in ([], [experiment.experiment_id] * 21):  # MLflow's limits
        refused = httpx.post(searched, json={"experiment_ids": ids}, headers=_auth())
        assert refused.status_code == 400
        assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_another_projects_logged_model_is_not_found(
    tracking: MlflowClient,  # noqa: F811
    server: tuple[str, Store],  # noqa: F811
) -> None:
    url, store = server
    with mlflow.start_run() as run:
        mine = mlflow.initialize_logged_model(name="mine")
    theirs = admin_headers(store, "other")
    calls = [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("PATCH", "/tags")]
    for method, path in calls:
        answer = httpx.request(method, f"{url}{MODELS}/{mine.model_id}{path}", headers=theirs,
                               json={"status": "LOGGED_MODEL_READY", "tags": []})  # fmt: skip
        assert answer.status_code == 404, (method, path)
        message = f"Logged model with ID '{mine.model_id}' not found."
        assert answer.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": message}
    searched = httpx.post(f"{url}{MODELS}/search", headers=theirs, json={"experiment_ids": ["0"]})
    assert searched.json() == {"models": []}
    made = httpx.post(f"{url}{MODELS}", headers=theirs,
                      json={"experiment_id": "0", "source_run_id": run.info.run_id})  # fmt: skip
    assert made.status_code == 404 and made.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    output = {"run_id": run.info.run_id, "models": [{"model_id": mine.model_id}]}
    made_by = httpx.post(f"{url}/api/2.0/mlflow/runs/outputs", headers=theirs, json=output)
    assert made_by.status_code == 404
    assert tracking.get_logged_model(mine.model_id).name == "mine"


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("POST", "", {"experiment_id": "0"}, "INVALID_PARAMETER_VALUE"),  # made within a run
        ("POST", "", {"experiment_id": "0", "source_run_id": "x"}, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/m-nothex", None, "RESOURCE_DOES_NOT_EXIST"),
        ("DELETE", "/m-" + "a" * 100, None, "RESOURCE_DOES_NOT_EXIST"),
        ("PATCH", "/m-" + "0" * 32, {"status": "LOGGED_MODEL_READY"}, "RESOURCE_DOES_NOT_EXIST"),
        ("POST", "/search", {"filter": "metrics.acc > 'high'"}, "INVALID_PARAMETER_VALUE"),
        ("POST", "/search", {"filter": "name = 'a' AND"}, "INVALID_PARAMETER_VALUE"),
        ("POST", "/search", {"filter": "flavour = 'x'"}, "INVALID_PARAMETER_VALUE"),
        ("POST", "/search", {"max_results": 0}, "INVALID_PARAMETER_VALUE"),
        ("POST", "/search", {"page_token": "!!"}, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_bad_input_is_a_400_or_404_in_mlflows_form(
    tracking: MlflowClient,  # noqa: F811
    server: tuple[str, Store],  # noqa: F811
    method: str,
    path: str,
    body: dict[str, object] | None,
    code: str,
) -> None:
    url, _ = server
    answer = httpx.request(method, f"{url}{MODELS}{path}", json=body, headers=_auth())
    assert answer.status_code == (404 if code == "RESOURCE_DOES_NOT_EXIST" else 400)
    assert answer.json()["error_code"] == code and "/" not in answer.json()["message"][:1]


def test_a_bad_status_and_bad_model_name_are_refused(
    tracking: MlflowClient,  # noqa: F811
) -> None:
    with mlflow.start_run():
        made = mlflow.initialize_logged_model(name="fine")
        with pytest.raises(MlflowException) as named:
            mlflow.initialize_logged_model(name="a/b")
    assert named.value.error_code == "INVALID_PARAMETER_VALUE"
    answer = httpx.patch(f"{tracking.tracking_uri}{MODELS}/{made.model_id}",
                         json={"status": "DONE"}, headers=_auth())  # fmt: skip
    assert answer.status_code == 400 and "LOGGED_MODEL_READY" in answer.json()["message"]
