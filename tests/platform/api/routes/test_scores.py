"""Scores through the API: a list sorted by one and filtered on several (422 naming the
part that is wrong), each run's ``score_values``, the project's score names, the list as
CSV (``format=csv`` or ``Accept: text/csv``, the same filters, chosen columns), and scores
as axes of a comparison."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.store import Store

API = "/api/v1"


def ended(store: Store, name: str, mae: float, loss: float | None = None) -> int:
    """A run ended completed with a forecast's result (MAE ``mae`` beside persistence's
    0.4), with ``loss`` logged when given."""
    record = store.create_experiment("sleeper", {}, name=name)
    lease = store.claim(record.id, "tester", 30)
    assert lease is not None
    if loss is not None:
        store.log_metrics(lease, [("loss", 1, loss, 0.0)])
    result = {"metrics": {"MAE": {"model": mae, "persistence": 0.4}}, "notes": ["x"]}
    store.finish(lease, "completed", result=result)
    return record.id


@pytest.fixture
def runs(store: Store) -> dict[str, int]:
    return {"alpha": ended(store, "alpha", 0.3, 0.5), "beta": ended(store, "beta", 0.1, 0.2),
            "=gamma": ended(store, "=gamma", 0.2)}  # fmt: skip


def listed(client: TestClient, **params: Any) -> list[str]:
    response = client.get(f"{API}/runs", params=params)
    assert response.status_code == 200, response.text
    return [run["name"] for run in response.json()["data"]]


def test_a_list_sorts_by_a_score_and_filters_on_several(
    client: TestClient, runs: dict[str, int]
) -> None:
    assert listed(client, sort="score:metrics.MAE.model", order="asc") == [
        "beta", "=gamma", "alpha"
    ]  # fmt: skip
    both = listed(client, score=["metrics.MAE.model<0.3", "metrics.MAE.persistence>=0.4"])
    assert both == ["=gamma", "beta"]
    assert listed(client, score=["metrics.MAE.model<0.3", "metric:loss<1"]) == ["beta"]
    (run,) = client.get(f"{API}/runs", params={"q": "beta"}).json()["data"]
    assert run["score_values"] == {"metrics.MAE.model": 0.1, "metrics.MAE.persistence": 0.4}
    detail = client.get(f"{API}/runs/{runs['beta']}").json()
    assert detail["score_values"] == run["score_values"]
    names = client.get(f"{API}/runs/scores/names").json()
    assert names == {"names": ["metrics.MAE.model", "metrics.MAE.persistence"]}
    operation = client.get("/openapi.json").json()["paths"][f"{API}/runs"]["get"]
    (sort,) = (p for p in operation["parameters"] if p["name"] == "sort")
    assert sort["schema"]["enum"][-2:] == [
        "score:metrics.MAE.model",
        "score:metrics.MAE.persistence",
    ]


@pytest.mark.parametrize(
    ("params", "where", "fragment"),
    [
        ({"score": "MAE"}, "score", "score filter 'MAE' is not <name><op><number>"),
        ({"score": "MAE<x"}, "score", "'x' is not a finite number"),
        ({"score": "nope<1"}, "score", "no run has a score 'nope'; scores: score:metrics.MAE"),
        ({"sort": "score:nope"}, "sort", "cannot sort by 'score:nope'"),
        ({"format": "csv", "columns": "id,id"}, "columns", "column 'id' is asked twice"),
        ({"format": "xml"}, "format", ""),
    ],
)
def test_bad_score_queries_are_422_naming_the_part(
    client: TestClient, runs: dict[str, int], params: dict[str, str], where: str, fragment: str
) -> None:
    response = client.get(f"{API}/runs", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert where in error["message"] and fragment in error["message"]


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_a_list_as_csv_keeps_its_filters_order_and_columns(
    client: TestClient, runs: dict[str, int]
) -> None:
    asked = {"sort": "score:metrics.MAE.model", "order": "asc", "limit": 1,
             "columns": "name,metrics.MAE.model,metric:loss,created_at"}  # fmt: skip
    response = client.get(f"{API}/runs", params={**asked, "format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table = rows(response.text)
    assert table[0] == ["name", "metrics.MAE.model", "metric:loss", "created_at"]
    # Every run the filters keep (the page aside); a cell a spreadsheet would run is quoted.
    assert [row[:3] for row in table[1:]] == [
        ["beta", "0.1", "0.2"], ["'=gamma", "0.2", ""], ["alpha", "0.3", "0.5"]
    ]  # fmt: skip
    assert table[1][3].endswith("+00:00")
    accepted = client.get(
        f"{API}/runs", params={"score": "metrics.MAE.model>0.15"},
        headers={"Accept": "text/csv"},
    )  # fmt: skip
    header, *body = rows(accepted.text)
    assert header == ["id", "name", "pipeline", "status", "created_at", "finished_at",
                      "metrics.MAE.model", "metrics.MAE.persistence"]  # fmt: skip
    assert [row[1] for row in body] == ["'=gamma", "alpha"]


def test_a_score_is_an_axis_of_a_comparison(client: TestClient, runs: dict[str, int]) -> None:
    chosen = {"experiments": f"{runs['alpha']},{runs['beta']}", "scores": "metrics.MAE.model"}
    response = client.get(f"{API}/compare", params=chosen)
    assert response.status_code == 200, response.text
    parallel = response.json()["parallel"]
    assert parallel["scores"] == ["metrics.MAE.model"]
    axis = next(d for d in parallel["dimensions"] if d["source"] == "score")
    assert (axis["key"], axis["numeric"], axis["values"]) == (
        "metrics.MAE.model",
        True,
        [0.3, 0.1],
    )
    unknown = client.get(f"{API}/compare", params={**chosen, "scores": "MAE"})
    assert unknown.status_code == 422
    assert "none of these runs has score 'MAE'; their scores: metrics.MAE.model" in unknown.text


def test_other_methods_on_the_score_names_are_405_naming_get(client: TestClient) -> None:
    for method in ("PATCH", "DELETE", "PUT", "POST"):
        response = client.request(method, f"{API}/runs/scores/names")
        assert response.status_code == 405, (method, response.text)
        assert response.headers["allow"] == "GET"
