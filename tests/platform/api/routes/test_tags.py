"""A run's tags: set and deleted by a role that writes, whatever the run's status, shown on
the run's JSON, filtered on by the run list; refused to a viewer and across projects."""

from __future__ import annotations

from fastapi.testclient import TestClient

from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, user_headers


def a_run(client: TestClient, name: str) -> int:
    made = client.post("/api/v1/external-runs", json={"pipeline": "my-script", "name": name})
    assert made.status_code == 201, made.text
    return int(made.json()["experiment"]["id"])


def test_tags_are_set_replaced_deleted_shown_and_filtered_on(
    client: TestClient, store: Store
) -> None:
    first, second = a_run(client, "first"), a_run(client, "second")
    for run, value in ((first, "a"), (second, "b")):
        put = client.put(f"/api/v1/runs/{run}/tags/team", json={"value": "x"})
        assert put.status_code == 200, put.text
        put = client.put(f"/api/v1/runs/{run}/tags/data/set", json={"value": value})
        assert put.json() == {"experiment_id": run, "tags": {"data/set": value, "team": "x"}}
    client.put(f"/api/v1/runs/{first}/tags/team", json={"value": "y"})  # replaced
    assert client.get(f"/api/v1/runs/{first}").json()["tags"] == {
        "data/set": "a", "team": "y"}  # fmt: skip

    def listed(*tags: str) -> list[int]:
        page = client.get("/api/v1/runs", params={"tag": list(tags)})
        assert page.status_code == 200, page.text
        return [run["id"] for run in page.json()["data"]]

    assert listed("team:x") == [second]
    assert listed("data/set:a", "team:y") == [first]
    assert listed("data/set:a", "team:x") == []
    assert listed("team:") == []  # an empty value is a value
    assert client.get("/api/v1/runs", params={"tag": "team"}).status_code == 422

    ended = client.post(f"/api/v1/runs/{first}/end", json={"status": "completed"})
    assert ended.status_code == 200
    gone = client.delete(f"/api/v1/runs/{first}/tags/team")  # an ended run's too
    assert gone.json()["tags"] == {"data/set": "a"}
    again = client.delete(f"/api/v1/runs/{first}/tags/team")
    assert again.status_code == 404 and "no tag 'team'" in again.text

    too_long = client.put(f"/api/v1/runs/{first}/tags/k", json={"value": "v" * 8001})
    assert too_long.status_code == 422
    viewer = user_headers(store, "vera", role="viewer")
    refused = client.put(f"/api/v1/runs/{first}/tags/k", json={"value": "v"},
                         headers=viewer)  # fmt: skip
    assert refused.status_code == 403
    store.create_project("other")
    elsewhere = client.put(f"/api/v1/runs/{first}/tags/k", json={"value": "v"},
                           headers=admin_headers(store, "other"))  # fmt: skip
    assert elsewhere.status_code == 404
    assert store.get_run_tags(first) == {"data/set": "a"}
