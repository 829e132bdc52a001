"""MLflow's own client (``mlflow-skinny``), unchanged, against this server: one API served by
uvicorn for the module, its store its own, the tracking URI and a project's token given as
an MLflow script gets them (``MLFLOW_TRACKING_URI``, ``MLFLOW_TRACKING_TOKEN``)."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
import uvicorn
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import fluent
from mlflow.tracking._tracking_service import utils as tracking_utils
from mlflow.utils import server_info

from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, short_settings, user_headers
from tests.platform.servers import served_in_thread

artifact_stores = tracking_utils._artifact_repos_cache
"""MLflow's client's artifact stores of the runs it wrote, by run id (a private cache)."""
MAX_FILE = 4096
"""The server's max_artifact_bytes here."""


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _auth() -> dict[str, str]:
    """The headers of the token the ``tracking`` fixture gave MLflow's client."""
    return {"Authorization": f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"}


@pytest.fixture(scope="module")
def mlflow_settings(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The server's settings, on its own copy of the store."""
    home = tmp_path_factory.mktemp("mlflow-api")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    return short_settings(f"sqlite:///{home / 'azuraforge.db'}", home, max_artifact_bytes=MAX_FILE)


@pytest.fixture(scope="module")
def server(mlflow_settings: Settings) -> Iterator[tuple[str, Store]]:
    """The server's URL and its store."""
    settings = mlflow_settings
    store = Store(settings.database_url)
    store.create_project("other")
    admin_headers(store)  # the server's admin made, as its first start makes them
    app = create_app(settings, store=store)
    with served_in_thread(uvicorn.Config(app, log_level="warning")) as address:
        yield f"http://{address}", store
    store.close()


@pytest.fixture
def tracking(server: tuple[str, Store], monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    """MLflow's fluent API and a client aimed at the server with an editor's token of the
    default project; no retries (an error is said at once). MLflow's client keeps each run's
    artifact store by run id in a cache of the process: the servers of two test modules give
    the same ids, so it is emptied before and after, as is the fluent API's active
    experiment (``set_experiment`` also puts it in ``MLFLOW_EXPERIMENT_ID``): another
    module's server's id, else."""
    url, store = server
    _forget_active_experiment()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", _token(user_headers(store, "eddie")))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(url)
    yield MlflowClient(url)
    if mlflow.active_run() is not None:
        mlflow.end_run()
    _forget_active_experiment()


def _forget_active_experiment() -> None:
    artifact_stores.clear()
    fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


def test_a_script_logs_searches_and_reads_back_as_with_mlflow_server(
    tracking: MlflowClient, tmp_path: Path, server: tuple[str, Store]
) -> None:
    experiment = mlflow.set_experiment("forecasts")  # made: it did not exist
    assert experiment.experiment_id != "0" and experiment.lifecycle_stage == "active"
    assert mlflow.set_experiment("forecasts").experiment_id == experiment.experiment_id
    named = tracking.search_experiments(filter_string="name = 'forecasts'")
    assert [e.experiment_id for e in named] == [experiment.experiment_id]
    assert [e.name for e in tracking.search_experiments(filter_string="name LIKE 'fore%'")] == [
        "forecasts"]  # fmt: skip
    with mlflow.start_run(run_name="lstm") as run:
        run_id = run.info.run_id
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "notes": "n" * 6000})
        for step, value in enumerate([0.9, 0.5, float("nan"), 0.25]):
            mlflow.log_metric("loss", value, step=step)
        mlflow.log_metric("big_step", 1.0, step=2**40)
        mlflow.log_metric("inf", float("inf"))
        points = [Metric("curve", i * 0.5, 1_700_000_000_000 + i, i) for i in range(10_000)]
        tracking.log_batch(run_id, metrics=points, params=[Param("batch", "64")],
                           tags=[RunTag("team", "x")])  # fmt: skip
        # A request sent again (its answer lost) writes nothing twice, as mlflow server's
        # primary key keeps a point once; a point of another value or time is a new one.
        tracking.log_batch(run_id, metrics=[*points[:1000], points[5], Metric("curve", 7.0,
                           1_700_000_000_005, 5)])  # fmt: skip
        mlflow.log_metric("loss", float("nan"), step=2, timestamp=1_700_000_000_000)
        mlflow.log_metric("loss", float("nan"), step=2, timestamp=1_700_000_000_000)
        mlflow.set_tag("temp", "1")
        tracking.delete_tag(run_id, "temp")
        (tmp_path / "notes.txt").write_text("hello")
        mlflow.log_artifact(str(tmp_path / "notes.txt"), artifact_path="docs")
    with mlflow.start_run(run_name="lstm") as other:  # names need not be unique
        mlflow.log_metric("loss", 0.1)
        mlflow.log_param("lr", 0.1)

    got = tracking.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "lstm"
    assert got.info.experiment_id == experiment.experiment_id
    assert got.data.params["notes"] == "n" * 6000 and got.data.params["batch"] == "64"
    assert got.data.params["lr"] == "0.01" and got.data.tags["team"] == "x"
    assert "temp" not in got.data.tags
    assert got.data.metrics["loss"] == 0.25 and got.data.metrics["big_step"] == 1.0
    assert got.data.metrics["inf"] == 1.7976931348623157e308  # as MLflow's SQL stores keep it
    history = tracking.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2, 2, 3] and math.isnan(history[2].value)
    assert [m.step for m in tracking.get_metric_history(run_id, "big_step")] == [2**40]
    curve = tracking.get_metric_history(run_id, "curve")
    assert len(curve) == 10_001 and curve[-1].value == 4999.5
    assert [m.value for m in curve if m.step == 5] == [2.5, 7.0]
    assert curve[1].timestamp == 1_700_000_000_001
    page = tracking._tracking_client.store.get_metric_history(run_id, "curve", max_results=4000)
    rest = tracking._tracking_client.store.get_metric_history(
        run_id, "curve", max_results=4000, page_token=page.token)  # fmt: skip
    assert [m.step for m in page][-1] == 3998 and rest[0].step == 3999  # two at step 5

    listed = tracking.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in listed] == [("docs", True)]
    assert [(f.path, f.file_size) for f in tracking.list_artifacts(run_id, "docs")] == [
        ("docs/notes.txt", 5)]  # fmt: skip
    fetched = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="docs/notes.txt",
                                                  dst_path=str(tmp_path / "out"))  # fmt: skip
    assert Path(fetched).read_text() == "hello"

    found = mlflow.search_runs(
        [experiment.experiment_id], "metrics.loss < 0.5 AND params.lr = '0.01' AND "
        "tags.team != 'y' AND attributes.status = 'FINISHED'", output_format="list")  # fmt: skip
    assert [r.info.run_id for r in found] == [run_id]
    ordered = mlflow.search_runs([experiment.experiment_id], order_by=["metrics.loss DESC"],
                                 output_format="list")  # fmt: skip
    assert [r.info.run_id for r in ordered] == [run_id, other.info.run_id]
    by_start = tracking.search_runs([experiment.experiment_id],
                                    order_by=["attributes.start_time"], max_results=1)  # fmt: skip
    assert [r.info.run_id for r in by_start] == [run_id] and by_start.token
    assert [r.info.run_id for r in tracking.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time"], max_results=1,
        page_token=by_start.token)] == [other.info.run_id]  # fmt: skip

    # The run shows on AzuraForge's own pages, its tags as tags.
    store = server[1]
    record = store.get_experiment(int(run_id))
    assert (record.kind, record.pipeline, record.tags["team"]) == ("external", "mlflow", "x")
    # Its scores, as a pipeline run's test scores: the latest value of each metric, at its end.
    assert (record.scores["metrics.loss"], record.scores["metrics.curve"]) == (0.25, 4999.5)
    assert store.get_experiment(int(other.info.run_id)).scores == {"metrics.loss": 0.1}
    # Its page shows each latest value as a score of the model's (no baselines).
    page = httpx.get(f"{server[0]}/api/v1/runs/{run_id}", headers=admin_headers(store))
    assert page.status_code == 200, page.text
    assert page.json()["scores"]["loss"] == {"model": 0.25}


def test_mlflow_errors_are_mlflows(tracking: MlflowClient) -> None:
    with pytest.raises(MlflowException) as missing:
        tracking.get_run("999999")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert tracking.get_experiment_by_name("no such experiment") is None
    with pytest.raises(MlflowException) as bad:
        tracking.search_runs(["0"], "metrics.loss > 1 OR params.a = 'b'")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE" and "OR" in bad.value.message
    with pytest.raises(MlflowException) as unknown:
        tracking.search_runs(["0"], "inputs.name = 'x'")
    assert "inputs.name" in unknown.value.message
    with pytest.raises(MlflowException) as unknown:
        tracking.search_runs(["0"], order_by=["datasets.name"])
    assert "ordered by no dataset" in unknown.value.message
    assert tracking.search_runs(["0"], "datasets.name = 'x'") == []  # MLflow's answer
    run = tracking.create_run("0")  # the default experiment, made when first asked for
    tracking.log_param(run.info.run_id, "lr", "0.1")
    with pytest.raises(MlflowException) as changed:
        tracking.log_param(run.info.run_id, "lr", "0.2")  # MLflow's params are immutable
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as taken:
        tracking.create_experiment("twice") and tracking.create_experiment("twice")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
    not_served = httpx.post(f"{tracking.tracking_uri}/api/2.0/mlflow/traces", json={},
                            headers=_auth())  # fmt: skip
    assert not_served.status_code == 501
    assert not_served.json()["error_code"] == "NOT_IMPLEMENTED"
    assert "POST /api/2.0/mlflow/traces" in not_served.json()["message"]
    traces = httpx.post(f"{tracking.tracking_uri}/api/3.0/mlflow/traces", json={},
                        headers=_auth())  # fmt: skip  # MLflow 3's client's start of a trace
    assert traces.status_code == 501 and traces.json()["error_code"] == "NOT_IMPLEMENTED"
    assert "POST /api/3.0/mlflow/traces" in traces.json()["message"]
    # What MLflow 3's client asks first is answered, as MLflow's own reader reads it.
    info = server_info.fetch_server_info(
        tracking_utils.get_default_host_creds(tracking.tracking_uri)
    )
    assert info.status_code == 200 and info.data is not None
    assert info.data["workspaces_enabled"] is False and info.data["store_type"] is None
    tracking.set_terminated(run.info.run_id)
    with pytest.raises(MlflowException) as ended:
        tracking.log_metric(run.info.run_id, "loss", 1.0)
    assert ended.value.error_code == "RESOURCE_CONFLICT"


def test_another_projects_token_sees_none_of_it(
    tracking: MlflowClient, server: tuple[str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tracking.create_experiment("mine")
    run = tracking.create_run(mine)
    url, store = server
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", _token(admin_headers(store, "other")))
    theirs = MlflowClient(url)
    assert theirs.get_experiment_by_name("mine") is None
    assert [e.name for e in theirs.search_experiments()] == ["Default"]
    with pytest.raises(MlflowException) as hidden:
        theirs.get_run(run.info.run_id)
    assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException):
        theirs.set_tag(run.info.run_id, "k", "v")
    assert theirs.search_runs([mine]) == []
    listed = httpx.get(f"{url}/api/2.0/mlflow-artifacts/artifacts",
                       params={"path": f"{mine}/{run.info.run_id}/artifacts"},
                       headers=admin_headers(store, "other"))  # fmt: skip
    assert listed.status_code == 404 and listed.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    viewer = user_headers(store, "vic", role="viewer")
    refused = httpx.post(f"{url}/api/2.0/mlflow/runs/set-tag", headers=viewer,
                         json={"run_id": run.info.run_id, "key": "k", "value": "v"})  # fmt: skip
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"


def test_an_mlflow_experiment_is_a_group_of_the_run_list(
    tracking: MlflowClient, server: tuple[str, Store]
) -> None:
    """``mlflow.set_experiment("cifar")`` and ``track.start_run(experiment="cifar")`` land in
    one group of the run list (``group=``, a column of its CSV); another project's MLflow
    experiment of that name holds none of them."""
    from azuraforge import track

    url, store = server
    mlflow.set_experiment("cifar")
    with mlflow.start_run(run_name="through-mlflow"):
        mlflow.log_metric("loss", 0.5)
    mlflow.set_experiment("imagenet")
    with mlflow.start_run(run_name="elsewhere"):
        pass
    headers = user_headers(store, "eddie")
    with track.start_run("through-track", "cifar", url=url, token=_token(headers),
                         system_metrics=0):  # fmt: skip
        pass
    theirs = admin_headers(store, "other")
    httpx.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "cifar"}, headers=theirs)
    listed = httpx.get(f"{url}/api/v1/runs", params={"group": "cifar"}, headers=headers)
    assert sorted((r["name"], r["pipeline"], r["group"]) for r in listed.json()["data"]) == [
        ("through-mlflow", "mlflow", "cifar"), ("through-track", "cifar", "cifar")]  # fmt: skip
    csv_query = {"group": "imagenet", "format": "csv", "columns": "name,group"}
    as_csv = httpx.get(f"{url}/api/v1/runs", params=csv_query, headers=headers)
    assert as_csv.text == "name,group\r\nelsewhere,imagenet\r\n"
    mine = httpx.get(f"{url}/api/v1/runs", params={"group": "cifar"}, headers=theirs)
    assert mine.json()["data"] == []


def test_a_runs_files_list_and_download_at_any_depth_and_whole(
    tracking: MlflowClient, tmp_path: Path
) -> None:
    """``list_artifacts(run, ".")`` lists the root (it answered no file), so
    ``download_artifacts(run, ".")`` fetches every file, and a folder downloads whole."""
    source = tmp_path / "source"
    (source / "a" / "b").mkdir(parents=True)
    (source / "top.txt").write_text("top")
    (source / "a" / "b" / "deep.txt").write_text("deep")
    run = tracking.create_run("0")
    run_id = run.info.run_id
    tracking.log_artifacts(run_id, str(source))
    assert [(f.path, f.is_dir) for f in tracking.list_artifacts(run_id, ".")] == [
        ("./a", True), ("./top.txt", False)]  # fmt: skip
    assert [f.path for f in tracking.list_artifacts(run_id, "a/b")] == ["a/b/deep.txt"]
    whole = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=".",
                                                     dst_path=str(tmp_path / "all")))  # fmt: skip
    assert (whole / "a" / "b" / "deep.txt").read_text() == "deep"
    assert (whole / "top.txt").read_text() == "top"
    folder = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="a",
                                                      dst_path=str(tmp_path / "a")))  # fmt: skip
    assert (folder / "b" / "deep.txt").read_text() == "deep"
    up = httpx.get(f"{tracking.tracking_uri}/api/2.0/mlflow-artifacts/artifacts",
                   params={"path": f"0/{run_id}/artifacts/../{run_id}"},
                   headers=_auth())  # fmt: skip
    assert up.status_code == 400 and up.json() == {
        "error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"}  # fmt: skip
    by_run = f"{tracking.tracking_uri}/api/2.0/mlflow/artifacts/list"  # MLflow's older call
    listed = httpx.get(by_run, params={"run_id": run_id, "path": "a"}, headers=_auth())
    assert listed.json() == {"root_uri": run.info.artifact_uri,
                             "files": [{"path": "a/b", "is_dir": True}]}  # fmt: skip
    up = httpx.get(by_run, params={"run_id": run_id, "path": "../path"}, headers=_auth())
    assert up.status_code == 400 and up.json()["message"] == "Invalid path"


def test_a_registry_versions_files_are_served_read_only(
    tracking: MlflowClient, server: tuple[str, Store], mlflow_settings: Settings, tmp_path: Path
) -> None:
    """``mlflow-artifacts:/registry/<model>/<version>`` lists and downloads the files of a
    version of AzuraForge's registry (what ``models:/NAME/1`` loads); an upload there is
    refused, and another project's token sees none of it."""
    url, store = server
    blobs = open_blobs(mlflow_settings)
    store.create_model("reg")
    version = store.create_version(
        "reg", pipeline="mlflow", artifact_path="models/reg-1", artifact_digest="",
        source_experiment_id=None, source_experiment_name="", metrics={}, config={},
        data_fingerprint="",
    )  # fmt: skip
    blobs.put_bytes("models/reg-1/MLmodel", b"flavors: {}\n")
    blobs.put_bytes("models/reg-1/model/model.pkl", b"12345")
    blobs.put_bytes("models/reg-10/other", b"not this version's")
    uri = f"mlflow-artifacts:/registry/reg/{version.version}"
    listed = mlflow.artifacts.list_artifacts(artifact_uri=uri)
    assert [(f.path, f.is_dir, f.file_size) for f in listed] == [
        ("1/MLmodel", False, 12), ("1/model", True, None)]  # fmt: skip
    fetched = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri,
                                                       dst_path=str(tmp_path / "v")))  # fmt: skip
    assert sorted(p.name for p in fetched.rglob("*")) == ["MLmodel", "model", "model.pkl"]
    assert (fetched / "model" / "model.pkl").read_bytes() == b"12345"
    files = f"{url}/api/2.0/mlflow-artifacts/artifacts"
    refused = httpx.put(f"{files}/registry/reg/1/MLmodel", content=b"x", headers=_auth())
    assert refused.status_code == 403, refused.text
    assert refused.json()["error_code"] == "PERMISSION_DENIED"
    assert blobs.get_bytes("models/reg-1/MLmodel") == b"flavors: {}\n"
    for path in ("registry/reg/2", "registry/nope/1", "registry/reg", "registry/reg/x"):
        missing = httpx.get(files, params={"path": path}, headers=_auth())
        assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", path
    theirs = httpx.get(files, params={"path": "registry/reg/1"},
                       headers=admin_headers(store, "other"))  # fmt: skip
    assert theirs.status_code == 404
    assert httpx.get(f"{files}/registry/reg/1/MLmodel",
                     headers=admin_headers(store, "other")).status_code == 404  # fmt: skip


def test_runs_are_deleted_and_restored_as_mlflow_does(tracking: MlflowClient) -> None:
    """A deleted run is kept: read by id, hidden from searches of active runs, shown with
    DELETED_ONLY and ALL, refusing writes in MLflow's words, restorable; the client's
    ``start_time``, ``end_time`` and ``user_id`` are kept as it sent them."""
    experiment = tracking.create_experiment("lifecycle")
    kept = tracking.create_run(experiment, start_time=456, tags={"mlflow.user": "alice"})
    assert (kept.info.start_time, kept.info.user_id) == (456, "alice")
    plain = tracking.create_run(experiment, start_time=123)
    assert tracking.get_run(plain.info.run_id).info.user_id == "unknown"  # as mlflow server
    run_id = kept.info.run_id
    tracking.log_metric(run_id, "loss", 0.5)
    tracking.delete_run(run_id)
    deleted = tracking.get_run(run_id)
    assert deleted.info.lifecycle_stage == "deleted" and deleted.data.metrics == {"loss": 0.5}
    assert [r.info.run_id for r in tracking.search_runs([experiment])] == [plain.info.run_id]
    only = tracking.search_runs([experiment], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in only] == [run_id]
    both = tracking.search_runs([experiment], run_view_type=ViewType.ALL)
    assert [r.info.run_id for r in both] == [run_id, plain.info.run_id]  # start_time DESC
    for write in (lambda: tracking.log_metric(run_id, "loss", 0.1),
                  lambda: tracking.set_tag(run_id, "k", "v"),
                  lambda: tracking.delete_tag(run_id, "mlflow.user")):  # fmt: skip
        with pytest.raises(MlflowException, match=f"The run {run_id} must be in"):
            write()
    tracking.restore_run(run_id)
    assert tracking.get_run(run_id).info.lifecycle_stage == "active"
    tracking.log_metric(run_id, "loss", 0.25)
    assert len(tracking.search_runs([experiment])) == 2
    tracking.set_terminated(run_id, end_time=789_000)
    ended = tracking.get_run(run_id).info
    assert (ended.status, ended.start_time, ended.end_time) == ("FINISHED", 456, 789_000)
    with pytest.raises(MlflowException, match=r"Run .+ not found"):
        tracking.delete_run("999999")


def test_experiments_are_renamed_deleted_restored_and_tagged(tracking: MlflowClient) -> None:
    made = tracking.create_experiment("old name", tags={"team": "a"})
    run = tracking.create_run(made)
    tracking.rename_experiment(made, "new name")
    assert tracking.get_experiment(made).name == "new name"
    assert tracking.get_experiment_by_name("old name") is None
    tracking.set_experiment_tag(made, "team", "b")
    tracking.set_experiment_tag(made, "multi line", "x\ny")
    assert tracking.get_experiment(made).tags == {"multi line": "x\ny", "team": "b"}
    tracking.delete_experiment_tag(made, "multi line")
    with pytest.raises(MlflowException, match="No tag with name: nope in experiment"):
        tracking.delete_experiment_tag(made, "nope")
    tracking.delete_experiment(made)
    assert tracking.get_experiment(made).lifecycle_stage == "deleted"
    assert tracking.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException, match="Cannot rename a non-active experiment"):
        tracking.rename_experiment(made, "newer")
    with pytest.raises(MlflowException, match=f"The experiment {made} must be in"):
        tracking.create_run(made)
    with pytest.raises(MlflowException) as taken:  # a deleted experiment's name stays taken
        tracking.create_experiment("new name")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert "Experiment(name=new name) already exists" in taken.value.message
    with pytest.raises(MlflowException, match=f"No Experiment with id={made} exists"):
        tracking.delete_experiment(made)
    tracking.restore_experiment(made)
    assert tracking.get_experiment(made).lifecycle_stage == "active"
    assert tracking.get_run(run.info.run_id).info.lifecycle_stage == "active"
    with pytest.raises(MlflowException, match="No Experiment with id=999999 exists"):
        tracking.get_experiment("999999")


def test_search_experiments_reads_mlflows_filter_grammar(
    tracking: MlflowClient, server: tuple[str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's own test's experiments and answers, in a project of their own."""
    url, store = server
    store.create_project("searched")
    token = _token(user_headers(store, "sam", project="searched"))
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    client = MlflowClient(url)
    assert client.search_experiments()[0].name == "Default"
    ids = [client.create_experiment(name, tags=tags) for name, tags in
           [("a", {"key": "value"}), ("ab", {"key": "vaLue"}), ("Abc", None)]]  # fmt: skip

    def names(text: str = "", **kwargs: Any) -> list[str]:
        return [e.name for e in client.search_experiments(filter_string=text, **kwargs)]

    assert names("attribute.name = 'a'") == ["a"]
    assert names("attribute.name != 'a'") == ["Abc", "ab", "Default"]
    assert names("name LIKE 'a%'") == ["ab", "a"]  # case-sensitive, on SQLite too
    assert names("name ILIKE 'a%'") == ["Abc", "ab", "a"]
    assert names("tag.key = 'value'") == ["a"]
    assert names("tag.key != 'value'") == ["ab"]
    assert names("tag.key ILIKE '%alu%'") == ["ab", "a"]
    assert names("tags.key IS NULL") == ["Abc", "Default"]
    assert names("tags.key IS NOT NULL AND name LIKE '%b'") == ["ab"]
    assert names(f"experiment_id IN ('0', '{ids[0]}')") == ["a", "Default"]
    created = client.get_experiment(ids[1]).creation_time
    assert names(f"creation_time >= {created}") == ["Abc", "ab"]
    assert names(order_by=["name DESC"]) == ["ab", "a", "Default", "Abc"]
    assert names(order_by=["experiment_id ASC"]) == ["Default", "a", "ab", "Abc"]
    first = client.search_experiments(max_results=2)
    assert [e.name for e in first] == ["Abc", "ab"]
    assert names(page_token=first.token) == ["a", "Default"]
    client.delete_experiment(ids[1])
    assert names(view_type=ViewType.ACTIVE_ONLY) == ["Abc", "a", "Default"]
    assert names(view_type=ViewType.DELETED_ONLY) == ["ab"]
    assert names(view_type=ViewType.ALL) == ["Abc", "ab", "a", "Default"]
    for bad in ("params.x = 'a'", "owner = 'me'", "name > 'a'", "name IS NULL"):
        with pytest.raises(MlflowException) as refused:
            client.search_experiments(filter_string=bad)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE", bad


def test_artifact_location_is_one_of_the_servers_own(
    tracking: MlflowClient, tmp_path: Path
) -> None:
    made = tracking.create_experiment("located", artifact_location="mlflow-artifacts:/team-a")
    assert tracking.get_experiment(made).artifact_location == "mlflow-artifacts:/team-a"
    run = tracking.create_run(made)
    assert run.info.artifact_uri == f"mlflow-artifacts:/team-a/{run.info.run_id}/artifacts"
    (tmp_path / "f.txt").write_text("f")
    tracking.log_artifact(run.info.run_id, str(tmp_path / "f.txt"))
    assert [f.path for f in tracking.list_artifacts(run.info.run_id)] == ["f.txt"]
    for location in ("my_location", "/etc", "file:///tmp/x", "mlflow-artifacts:/registry",
                     "mlflow-artifacts:/a/../b", "s3://bucket/x"):  # fmt: skip
        with pytest.raises(MlflowException) as refused:
            tracking.create_experiment(f"at {location}", artifact_location=location)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE", location
        assert tracking.get_experiment_by_name(f"at {location}") is None


def test_requests_refused_in_mlflows_words(tracking: MlflowClient) -> None:
    """The messages MLflow's own REST tests read, for bodies that do not validate."""
    run_id = tracking.create_run("0").info.run_id
    api = f"{tracking.tracking_uri}/api/2.0/mlflow"
    cases = [
        ("experiments/create", {"name": 123}, "Invalid value 123 for parameter 'name'"),
        ("experiments/create", {}, "Missing value for required parameter 'name'"),
        ("experiments/create", {"name": "n", "tags": "5"},
         'Invalid value "5" for parameter \'tags\''),
        ("runs/log-metric", {"run_id": 31, "key": "m", "value": 41, "timestamp": 59},
         "Invalid value 31 for parameter 'run_id' supplied"),
        ("runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1,
                             "step": "foo"}, 'Invalid value "foo" for parameter \'step\''),
        ("runs/log-metric", {"run_id": None, "key": "m", "value": 1, "timestamp": 1},
         "Missing value for required parameter 'run_id'"),
        ("runs/set-tag", {"run_id": run_id, "key": "k", "value": 41},
         "Invalid value 41 for parameter 'value' supplied"),
        ("runs/set-tag", {"run_id": 31, "key": "k", "value": 41},  # the id is named first
         "Invalid value 31 for parameter 'run_id' supplied"),
        ("runs/log-parameter", {"run_id": run_id, "key": 31, "value": 41},
         "Invalid value 31 for parameter 'key' supplied"),
        ("runs/create", {"experiment_id": "0", "user_id": "u" * 251},
         "Invalid value \"uuuu"),
        ("runs/log-batch", {"run_id": run_id, "metrics": [{"key": "mae", "value": 2.5}]},
         'Invalid value [{"key":"mae","value":2.5}] for parameter \'metrics\' supplied'),
    ]  # fmt: skip
    for call, body, message in cases:
        answer = httpx.post(f"{api}/{call}", json=body, headers=_auth())
        assert answer.status_code == 400, (call, body, answer.text)
        assert message in answer.json()["message"], (call, answer.json())
    with pytest.raises(MlflowException, match="No tag with name: fakeTag"):
        tracking.delete_tag(run_id, "fakeTag")
    with pytest.raises(MlflowException, match=r"Run .+ not found"):
        tracking.delete_tag("999999", "taggity")
    with pytest.raises(MlflowException, match="Invalid value 123456789 for parameter"):
        tracking.search_runs(["0"], max_results=123456789)
    missing = httpx.get(f"{api}/experiments/get-by-name", params={"experiment_name": "nope"},
                        headers=_auth())  # fmt: skip
    assert missing.json()["message"] == "Could not find experiment with name 'nope'"


def test_search_runs_filters_on_input_datasets(tracking: MlflowClient) -> None:
    import pandas as pd

    experiment = tracking.create_experiment("with inputs")
    mlflow.set_experiment(experiment_id=experiment)
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with mlflow.start_run() as trained:
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train-set"), context="training")
    with mlflow.start_run():
        pass
    found = tracking.search_runs(
        [experiment], "datasets.name = 'train-set' AND datasets.context = 'training'"
    )
    assert [r.info.run_id for r in found] == [trained.info.run_id]
    assert tracking.search_runs([experiment], "datasets.context = 'eval'") == []
    # A run's inputs are in its answer, read by id or searched (part B keeps them).
    [taken] = tracking.get_run(trained.info.run_id).inputs.dataset_inputs
    assert (taken.dataset.name, taken.tags[0].value) == ("train-set", "training")
    assert found[0].inputs.dataset_inputs[0].dataset.digest == taken.dataset.digest
