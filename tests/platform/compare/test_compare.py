"""GET /api/v1/compare on SQLite and PostgreSQL: runs with different config keys and of every
status (failed, pruned, lost, cancelled, running) compared by ids, batch and study; curves
downsampled with their extremes kept; bad input is a 4xx naming the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from azuraforge.errors import NotFoundError
from azuraforge.platform.services.compare import MAX_RUNS, Selection, compare
from azuraforge.platform.store import Store
from tests.platform.compare.conftest import Runs

API = "/api/v1/compare"


def get(client: TestClient, status: int = 200, **params: Any) -> dict[str, Any]:
    response = client.get(API, params=params)
    assert response.status_code == status, response.text
    # strict JSON: NaN or Infinity in the body would raise here
    body: dict[str, Any] = json.loads(response.text, parse_constant=_refuse)
    return body


def _refuse(constant: str) -> None:
    raise AssertionError(f"the response holds {constant}, which is not JSON")


def ids(*experiment_ids: int) -> str:
    return ",".join(map(str, experiment_ids))


def dimension(body: dict[str, Any], key: str) -> dict[str, Any]:
    return next(d for d in body["parallel"]["dimensions"] if d["key"] == key)


def test_runs_with_different_keys_and_a_failed_pruned_and_lost_run(client: TestClient, runs: Runs):
    base = {"epochs": 3, "model": {"hidden": 8, "layers": 1}, "lr": 0.1}
    done = runs.make(base, "completed", {"loss": [1.0, 0.5, 0.25], "val_loss": [2, 1, 0.8]})
    failed = runs.make(
        {**base, "lr": 0.01, "model": {"hidden": 16, "layers": 1}, "dropout": 0.2},
        "failed",
        {"loss": [1.5, 1.2], "val_loss": [2.5, 2.4]},
    )
    pruned = runs.make({**base, "optimizer": "sgd"}, "pruned", {"loss": [3.0], "val_loss": [4]})
    lost = runs.make({**base, "lr": "auto"}, "lost")

    body = get(client, experiments=ids(done, failed, pruned, lost))

    assert [r["id"] for r in body["runs"]] == [done, failed, pruned, lost]
    assert [r["status"] for r in body["runs"]] == ["completed", "failed", "pruned", "lost"]
    assert [r["completed"] for r in body["runs"]] == [True, False, False, False]
    assert body["runs"][1]["error"] == "boom"
    diff = {d["key"]: d for d in body["config_diff"]}
    assert list(diff) == ["dropout", "lr", "model.hidden", "optimizer"]  # not epochs, layers
    assert diff["dropout"] == {
        "key": "dropout", "values": [None, 0.2, None, None], "missing": [done, pruned, lost]
    }  # fmt: skip
    assert diff["lr"]["values"] == [0.1, 0.01, 0.1, "auto"] and diff["lr"]["missing"] == []
    assert diff["model.hidden"]["values"] == [8, 16, 8, 8]
    parallel = body["parallel"]
    assert parallel["experiment_ids"] == [done, failed, pruned, lost]
    assert parallel["statuses"] == ["completed", "failed", "pruned", "lost"]
    # the lost run logged nothing: it does not empty the default metrics, its values are null
    assert parallel["metrics"] == ["loss", "val_loss"]
    assert dimension(body, "val_loss") == {
        "key": "val_loss", "source": "metric", "numeric": True, "values": [0.8, 2.4, 4.0, None]
    }  # fmt: skip
    assert dimension(body, "lr")["numeric"] is False  # 0.1, 0.01 and "auto": categorical
    assert dimension(body, "model.hidden") == {
        "key": "model.hidden", "source": "param", "numeric": True, "values": [8, 16, 8, 8]
    }  # fmt: skip
    curves = {c["key"]: c["runs"] for c in body["curves"]}
    assert list(curves) == ["loss", "val_loss"]
    assert [c["experiment_id"] for c in curves["loss"]] == [done, failed, pruned]
    assert curves["loss"][1] == {
        "experiment_id": failed, "steps": [1, 2], "values": [1.5, 1.2], "total_points": 2
    }  # fmt: skip


def test_equal_looking_values_of_other_types_differ(client: TestClient, runs: Runs):
    one = runs.make({"flag": 1, "same": [1, 2]})
    other = runs.make({"flag": True, "same": [1, 2]})
    body = get(client, experiments=ids(one, other))
    assert body["config_diff"] == [{"key": "flag", "values": [1, True], "missing": []}]


def test_curves_are_downsampled_keeping_first_last_and_extremes(client: TestClient, runs: Runs):
    values = [1.0 / step for step in range(1, 1001)]
    values[499], values[700] = 50.0, -3.0  # a spike and a dip between the samples
    run = runs.make({"lr": 0.1}, "completed", {"loss": values})
    other = runs.make({"lr": 0.2}, "cancelled", {"loss": values[:10]})

    body = get(client, experiments=ids(run, other), points=20)

    long, short = next(c for c in body["curves"] if c["key"] == "loss")["runs"]
    assert long["total_points"] == 1000 and len(long["steps"]) <= 20
    assert long["steps"][0] == 1 and long["steps"][-1] == 1000
    kept = dict(zip(long["steps"], long["values"], strict=True))
    assert {500: 50.0, 701: -3.0}.items() <= kept.items()
    assert long["steps"] == sorted(long["steps"])
    assert short["steps"] == list(range(1, 11))  # under the limit: every point
    assert body["points"] == 20 and body["downsampling"] == "minmax"


def test_a_batch_in_id_order_and_chosen_metrics(client: TestClient, runs: Runs):
    batch = [
        runs.make({"lr": lr}, status, {"loss": [lr], "val_loss": [2 * lr]}, batch_id="b-1")
        for lr, status in ((0.1, "completed"), (0.2, "running"), (0.3, "queued"))
    ]
    runs.make({"lr": 0.4}, "completed", {"loss": [0.4]})  # not in the batch

    body = get(client, batch="b-1", metrics="val_loss")

    assert [r["id"] for r in body["runs"]] == batch
    assert [r["status"] for r in body["runs"]] == ["completed", "running", "queued"]
    assert body["parallel"]["metrics"] == ["val_loss"]
    assert [d["key"] for d in body["parallel"]["dimensions"]] == ["lr", "val_loss"]
    assert dimension(body, "val_loss")["values"] == [0.2, 0.4, None]


def test_a_study_by_trial_number_with_a_pruned_trial(client: TestClient, runs: Runs):
    study = runs.study()
    second = runs.make({"lr": 0.2}, "pruned", {"val_loss": [3.0, 2.9]})
    first = runs.make({"lr": 0.1}, "completed", {"val_loss": [2.0, 1.0, 0.5]})
    failed = runs.make({"lr": 0.3}, "failed")
    runs.make({"lr": 0.1}, "completed", {"val_loss": [9.0]})  # a run of no study
    for number, run in enumerate((first, second, failed)):
        runs.trial(run, study, number)

    body = get(client, study=study)

    assert [r["id"] for r in body["runs"]] == [first, second, failed]
    assert [r["trial_number"] for r in body["runs"]] == [0, 1, 2]
    assert {r["kind"] for r in body["runs"]} == {"trial"}
    assert body["parallel"]["statuses"] == ["completed", "pruned", "failed"]
    assert dimension(body, "val_loss")["values"] == [0.5, 2.9, None]
    assert get(client, study=runs.study())["runs"] == []  # a study without trials yet


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({}, "experiments", "exactly one of experiments=1,2,3, batch=<batch id> or study"),
        ({"experiments": "1", "batch": "b"}, "batch", "got experiments and batch"),
        ({"experiments": "1,x"}, "experiments", "'x' is not a run id"),
        ({"experiments": "0"}, "experiments", "'0' is not a run id"),
        ({"experiments": "1, 2"}, "experiments", "' 2' is not a run id"),
        ({"experiments": "1,,2"}, "experiments", "'' is not a run id"),
        ({"experiments": ",".join(["1"] * (MAX_RUNS + 1))}, "experiments", "101 runs chosen"),
        ({"experiments": ids(*range(1, MAX_RUNS + 2))}, "experiments", "101 runs chosen"),
        ({"experiments": "1", "points": "1"}, "points", "greater than or equal to 2"),
        ({"study": "-1"}, "study", "greater than or equal to 1"),
    ],
)
def test_bad_selections_are_422_naming_the_parameter(client, params, field, fragment):
    error = get(client, 422, **params)["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"][0]["loc"] == ["query", field]
    assert fragment in error["message"]


def test_unknown_metrics_are_422_naming_them(client: TestClient, runs: Runs):
    run = runs.make({"lr": 0.1}, "completed", {"loss": [1.0]})
    for field in ("metrics", "keys"):
        error = get(client, 422, experiments=str(run), **{field: "loss,val_los"})["error"]
        assert error["details"][0]["loc"] == ["query", field]
        assert (
            "none of these runs logged metric 'val_los'; their metrics: loss" in (error["message"])
        )


def test_a_batch_over_the_cap_is_422(client: TestClient, runs: Runs):
    for lr in range(MAX_RUNS + 1):
        runs.make({"lr": lr}, "queued", batch_id="big")
    error = get(client, 422, batch="big")["error"]
    assert "at least 101 runs chosen; a comparison holds at most 100" in error["message"]


def test_unknown_ids_batches_and_studies_are_404_naming_them(client: TestClient, runs: Runs):
    run = runs.make({"lr": 0.1})
    unknown = get(client, 404, experiments=ids(run, 999_998, 999_999))["error"]["message"]
    assert unknown.startswith("experiments 999998, 999999 not found in project 'default'")
    # An id larger than the store's ids (32-bit on PostgreSQL) names no run either.
    too_large = get(client, 404, experiments=ids(run, 2**31))["error"]["message"]
    assert too_large.startswith(f"experiment {2**31} not found")
    assert "no runs in batch 'nope'" in get(client, 404, batch="nope")["error"]["message"]
    assert "study 999999 not found" in get(client, 404, study=999_999)["error"]["message"]


def test_prediction_jobs_are_not_runs_to_compare(client: TestClient, store: Store, runs: Runs):
    run = runs.make({"lr": 0.1})
    job = store.create_experiment("sleeper", {"steps": 1}, kind="prediction").id
    message = get(client, 404, experiments=ids(run, job))["error"]["message"]
    assert message.startswith(f"experiment {job} not found in project 'default'")


def test_runs_and_studies_of_another_project_are_not_found(
    client: TestClient, store: Store, runs: Runs
):
    runs.project("other")
    theirs = runs.make({"lr": 0.1}, project="other")
    ours = runs.make({"lr": 0.2})
    message = get(client, 404, experiments=ids(ours, theirs))["error"]["message"]
    assert message.startswith(f"experiment {theirs} not found in project 'default'")
    study = runs.study(project="other")
    assert f"study {study} not found" in get(client, 404, study=study)["error"]["message"]
    with pytest.raises(NotFoundError, match=f"experiment {ours} not found in project 'other'"):
        compare(store, Selection(experiments=[ours]), project="other")


def test_one_run_has_no_differences(client: TestClient, runs: Runs):
    run = runs.make({"lr": 0.1, "model": {"hidden": 8}}, "completed", {"loss": [1.0, 0.5]})
    body = get(client, experiments=f"{run},{run}")
    assert [r["id"] for r in body["runs"]] == [run]
    assert body["config_diff"] == []
    assert [d["key"] for d in body["parallel"]["dimensions"]] == ["loss"]
