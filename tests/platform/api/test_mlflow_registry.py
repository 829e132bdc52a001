"""MLflow's model registry on AzuraForge's, with MLflow's own client (``mlflow-skinny``)
unchanged: one API served by uvicorn for the module (the tracking fixtures of
``test_mlflow``, on this module's server), its store and blob store its own."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
import uvicorn
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.run_files import keep_folder
from azuraforge.platform.services.project_settings import change_settings
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.store.states import COMPLETED
from tests.platform.api.test_mlflow import tracking  # noqa: F401 (a fixture)
from tests.platform.fixtures import admin_headers, short_settings, user_headers
from tests.platform.servers import served_in_thread

API = "/api/v1"
REGISTRY = "/api/2.0/mlflow/registered-models"
VERSIONS = "/api/2.0/mlflow/model-versions"


@pytest.fixture(scope="module")
def settings(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("mlflow-registry")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    return short_settings(f"sqlite:///{home / 'azuraforge.db'}", home)


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[tuple[str, Store]]:
    """The server's URL and its store; the default project allows MLflow models, the
    project ``other`` does not."""
    store = Store(settings.database_url)
    store.create_project("other")
    admin_headers(store)
    change_settings(store, {"mlflow_models": True})
    app = create_app(settings, store=store)
    with served_in_thread(uvicorn.Config(app, log_level="warning")) as address:
        yield f"http://{address}", store
    store.close()


@pytest.fixture
def api(server: tuple[str, Store]) -> Iterator[httpx.Client]:
    """Our own API as the default project's admin."""
    url, store = server
    with httpx.Client(base_url=url, headers=admin_headers(store)) as client:
        yield client


def _trained() -> tuple[LinearRegression, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(40, 3))
    return LinearRegression().fit(x, x @ [1.0, -2.0, 0.5] + 3.0), x


def test_the_everyday_scripts_registry_half_is_our_registry_with_its_history(
    tracking: MlflowClient,  # noqa: F811
    api: httpx.Client,
    server: tuple[str, Store],
) -> None:
    model, x = _trained()
    with mlflow.start_run() as run:
        logged = mlflow.sklearn.log_model(model, name="model",
                                          serialization_format="cloudpickle")  # fmt: skip
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "forecaster")
    assert version.version == "1" and version.run_id == run.info.run_id
    assert version.source == f"models:/{logged.model_id}" and version.current_stage == "None"
    tracking.set_registered_model_alias("forecaster", "champion", version.version)

    champion = mlflow.pyfunc.load_model("models:/forecaster@champion")
    np.testing.assert_allclose(champion.predict(x), model.predict(x))
    np.testing.assert_allclose(
        mlflow.pyfunc.load_model("models:/forecaster/1").predict(x), model.predict(x)
    )
    # A second version from the logged model itself; the alias moves to it, then back.
    second = tracking.create_model_version("forecaster", f"models:/{logged.model_id}",
                                           tags={"data": "2014"})  # fmt: skip
    tracking.set_registered_model_alias("forecaster", "champion", second.version)
    moves = api.get(f"{API}/models/forecaster/aliases/champion/history").json()["data"]
    assert [(m["from_version"], m["to_version"], m["actor"]) for m in moves] == [
        (1, 2, "eddie"), (None, 1, "eddie")]  # fmt: skip
    audited = server[1].list_audit("default", action="POST")
    assert [(a.actor, a.target) for a in audited][:2] == [
        ("eddie", f"{REGISTRY}/alias"), ("eddie", f"{VERSIONS}/create")]  # fmt: skip
    assert api.post(f"{API}/models/forecaster/aliases/champion/rollback", json={}).is_success
    assert tracking.get_model_version_by_alias("forecaster", "champion").version == "1"
    ours = api.get(f"{API}/models/forecaster/versions/2").json()
    assert ours["pipeline"] == "mlflow" and ours["source_experiment_id"] == int(run.info.run_id)
    # Each version named on the logged model it came from, as mlflow server's does (the
    # fluent register_model adds its own entry besides, with the version as text).
    named = json.loads(tracking.get_logged_model(logged.model_id).tags["mlflow.modelVersions"])
    assert {"name": "forecaster", "version": 1} in named
    assert {"name": "forecaster", "version": 2} in named

    got = tracking.get_registered_model("forecaster")
    assert got.aliases == {"champion": "1"} and [v.version for v in got.latest_versions] == ["2"]
    found = tracking.search_model_versions("name = 'forecaster' AND tags.data = '2014'")
    assert [(v.version, v.tags) for v in found] == [("2", {"data": "2014"})]
    assert [m.name for m in tracking.search_registered_models("name LIKE 'fore%'")] == [
        "forecaster"]  # fmt: skip


def test_a_version_made_by_our_api_is_seen_by_mlflows_client(
    tracking: MlflowClient,  # noqa: F811
    api: httpx.Client,
    server: tuple[str, Store],
    settings: Settings,
    tmp_path: Path,
) -> None:
    store = server[1]
    (tmp_path / "artifact").mkdir()
    (tmp_path / "artifact" / "artifact.json").write_text(json.dumps({"pipeline": "weather"}))
    run = store.create_experiment("weather-forecaster", {"epochs": 1}, name="ours")
    keep_folder(open_blobs(settings), tmp_path, run.id)
    lease = store.claim(run.id, "test-worker", settings.lease_ttl)
    assert lease is not None
    store.finish(lease, COMPLETED, result={"metrics": {"mae": 1.5}, "artifact_dir": "artifact"})
    assert api.post(f"{API}/models", json={"name": "weather"}).is_success
    made = api.post(f"{API}/models/weather/versions", json={"experiment": run.id})
    assert made.status_code == 201, made.text

    seen = tracking.get_model_version("weather", "1")
    assert seen.run_id == str(run.id) and seen.source == "mlflow-artifacts:/registry/weather/1"
    assert [v.version for v in tracking.search_model_versions("name = 'weather'")] == ["1"]
    path = mlflow.artifacts.download_artifacts(
        tracking.get_model_version_download_uri("weather", "1"), dst_path=str(tmp_path / "out")
    )
    assert json.loads((Path(path) / "artifact.json").read_text()) == {"pipeline": "weather"}
    tracking.update_model_version("weather", "1", description="seed 0")
    tracking.set_model_version_tag("weather", "1", "team", "x")
    assert api.get(f"{API}/models/weather/versions/1").json()["description"] == "seed 0"
    assert tracking.get_model_version("weather", "1").tags == {"team": "x"}


def test_errors_answer_in_mlflows_form_and_another_projects_model_is_not_found(
    tracking: MlflowClient,  # noqa: F811
    server: tuple[str, Store],
) -> None:
    url, store = server
    tracking.create_registered_model("twice", tags={"team": "a"}, description="d")
    with pytest.raises(MlflowException, match=r"Registered Model \(name=twice\) already exists"):
        tracking.create_registered_model("twice")
    with pytest.raises(MlflowException, match="Registered Model with name=nothing not found"):
        tracking.get_registered_model("nothing")
    with pytest.raises(MlflowException, match=r"Model Version \(name=twice, version=3\) not f"):
        tracking.get_model_version("twice", "3")
    with pytest.raises(MlflowException, match=r"'latest' alias name .* is reserved"):
        tracking.set_registered_model_alias("twice", "latest", "1")
    with pytest.raises(MlflowException, match="Invalid model version source"):
        tracking.create_model_version("twice", "/etc/passwd", run_id="1")
    with pytest.raises(MlflowException, match="relative path references"):
        tracking.create_model_version("twice", "mlflow-artifacts:/1/2/artifacts/..%2f..%2fx")
    with pytest.raises(MlflowException, match="stages are not kept") as refused:
        tracking.transition_model_version_stage("twice", "1", "Production")
    assert refused.value.error_code == "NOT_IMPLEMENTED"

    empty = httpx.get(f"{url}{REGISTRY}/alias", params={"name": "twice", "alias": ""},
                      headers=user_headers(store, "eddie"))  # fmt: skip
    assert empty.json()["message"] == "Registered model alias name cannot be empty."
    no_source = httpx.post(f"{url}{VERSIONS}/create", json={"name": "twice"},
                           headers=user_headers(store, "eddie"))  # fmt: skip
    assert (no_source.status_code, no_source.json()) == (400, {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Missing value for required parameter 'source'."})  # fmt: skip

    other = user_headers(store, "olga", project="other")
    answer = httpx.get(f"{url}{REGISTRY}/get", params={"name": "twice"}, headers=other)
    assert answer.status_code == 404 and answer.json() == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "Registered Model with name=twice not found",
    }
    listed = httpx.get(f"{url}{REGISTRY}/search", headers=other).json()
    assert listed == {"registered_models": []}
    with mlflow.start_run() as ours:
        mlflow.log_text("the default project's", "files/a.txt")
    assert httpx.post(f"{url}{REGISTRY}/create", json={"name": "theirs"}, headers=other).is_success
    for source in (f"runs:/{ours.info.run_id}/files", "models:/twice/1",
                   f"mlflow-artifacts:/0/{ours.info.run_id}/artifacts/files"):  # fmt: skip
        copied = httpx.post(f"{url}{VERSIONS}/create", headers=other,
                            json={"name": "theirs", "source": source})  # fmt: skip
        assert copied.status_code == 404, (source, copied.text)
        assert copied.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    reader = user_headers(store, "rita", role="viewer")
    refused_write = httpx.post(f"{url}{REGISTRY}/create", json={"name": "r"}, headers=reader)
    assert refused_write.status_code == 403
    assert refused_write.json()["error_code"] == "PERMISSION_DENIED"


def test_an_mlflow_model_is_refused_where_the_project_does_not_allow_them(
    tracking: MlflowClient,  # noqa: F811
    server: tuple[str, Store],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = user_headers(server[1], "otto", project="other")["Authorization"].split()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    theirs = MlflowClient().create_experiment("others")
    with mlflow.start_run(experiment_id=theirs) as run:
        mlflow.sklearn.log_model(_trained()[0], name="model",
                                 serialization_format="cloudpickle")  # fmt: skip
    with pytest.raises(MlflowException, match="does not allow MLflow models") as refused:
        mlflow.register_model(f"runs:/{run.info.run_id}/model", "theirs")
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert tracking.search_model_versions("name = 'theirs'") == []


def test_rename_tags_pages_and_deletes_keep_the_registrys_rules(
    tracking: MlflowClient,  # noqa: F811
    api: httpx.Client,
) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("not a model", "notes/readme.txt")
    for name in ("paged-a", "paged-b", "paged-c"):
        tracking.create_registered_model(name, tags={"kind": "paged"})
    made = tracking.create_model_version("paged-a", f"runs:/{run.info.run_id}/notes")
    assert made.version == "1" and made.source == f"runs:/{run.info.run_id}/notes"
    paged = "tags.kind = 'paged'"
    first = tracking.search_registered_models(paged, max_results=2, order_by=["name DESC"])
    rest = tracking.search_registered_models(
        paged, max_results=2, order_by=["name DESC"], page_token=first.token
    )
    assert [m.name for m in first] == ["paged-c", "paged-b"] and first.token
    assert [m.name for m in rest] == ["paged-a"] and not rest.token

    tracking.rename_registered_model("paged-a", "renamed")
    with pytest.raises(MlflowException, match=r"Registered Model \(name=paged-b\) already"):
        tracking.rename_registered_model("renamed", "paged-b")
    tracking.update_registered_model("renamed", description="kept")
    tracking.set_registered_model_tag("renamed", "team", "x")
    tracking.delete_registered_model_tag("renamed", "kind")
    tracking.delete_registered_model_tag("renamed", "never-set")  # nothing, as in MLflow
    got = tracking.get_registered_model("renamed")
    assert (got.description, got.tags) == ("kept", {"team": "x"})
    assert [v.version for v in tracking.get_latest_versions("renamed")] == ["1"]
    assert tracking.get_latest_versions("renamed", stages=["Production"]) == []
    assert api.get(f"{API}/models/renamed/versions/1").json()["pipeline"] == "mlflow"

    tracking.set_registered_model_alias("renamed", "live", "1")
    with pytest.raises(MlflowException, match="needs admin") as refused:
        tracking.delete_model_version("renamed", "1")  # an editor's: deleting is an admin's
    assert refused.value.error_code == "PERMISSION_DENIED"
    as_admin = {"name": "renamed", "version": "1"}
    kept = api.request("DELETE", f"{VERSIONS}/delete", json=as_admin)
    assert kept.status_code == 409 and "renamed@live" in kept.json()["message"]
    tracking.delete_registered_model_alias("renamed", "live")
    moves = api.get(f"{API}/models/renamed/aliases/live/history").json()["data"]
    assert [(m["from_version"], m["to_version"]) for m in moves] == [(1, None), (None, 1)]
    assert api.request("DELETE", f"{REGISTRY}/delete", json={"name": "renamed"}).is_success
    assert api.get(f"{API}/models/renamed").status_code == 404
