""":class:`Client` against a real API, one resource after another as a script uses them:
runs, studies, models, streams and the caller's access (no worker runs: runs and trials
stay queued; the CLI's tests follow runs to their end through the same client)."""

from __future__ import annotations

import pytest

from azuraforge.client import Client
from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError
from azuraforge.platform.store import Store


@pytest.fixture(scope="module")
def client(served: tuple[str, Store], admin_token: str) -> Client:
    return Client(served[0], token=admin_token)


def test_runs_queued_read_compared_and_deleted(client: Client) -> None:
    first, second = client.runs.submit(
        "sleeper", {"sleep": 0}, name="pair", grid={"steps": [2, 3]}
    )
    assert (first["name"], first["status"]) == ("pair-1", "queued")
    assert client.runs.get(second["id"])["config"]["steps"] == 3
    compared = client.runs.compare([first["id"], second["id"]])
    assert [run["id"] for run in compared["runs"]] == [first["id"], second["id"]]
    assert client.runs.compare(batch=first["batch_id"])["runs"] == compared["runs"]
    client.runs.delete(first["id"])
    with pytest.raises(NotFoundError, match=f"experiment {first['id']} not found"):
        client.runs.get(first["id"])
    listed = client.runs.list(status="queued", search="pair")
    assert [run["id"] for run in listed.data] == [second["id"]]


def test_a_study_created_summarised_and_cancelled(client: Client) -> None:
    space = {"steps": {"type": "int", "low": 1, "high": 3}}
    study = client.studies.create("sleeper", space, objective="loss", n_trials=2, name="s")
    assert (study["n_trials"], study["sampler"], study["direction"]) == (2, "tpe", "minimize")
    assert client.studies.get(study["id"])["name"] == "s"
    assert client.studies.summary(study["id"])["best"] is None
    assert client.studies.importances(study["id"])["importances"] is None  # none completed
    assert client.studies.cancel(study["id"])["status"] == "cancelled"
    assert [found["id"] for found in client.studies.each()] == [study["id"]]
    with pytest.raises(InvalidParameterError, match="space"):
        client.studies.create("sleeper", {})


def test_models_streams_and_access(client: Client) -> None:
    made = client.models.create("forecast", "daily temperature")
    assert client.models.get("forecast") == made
    assert client.models.versions("forecast").total == 0
    assert [model["name"] for model in client.models.each()] == ["forecast"]
    (run,) = client.runs.submit("sleeper")
    with pytest.raises(ConflictError, match=f"experiment {run['id']} .* is queued"):
        client.models.register("fresh", run["id"])
    with pytest.raises(NotFoundError, match="no-such"):
        client.models.predict("no-such@champion", [{"x": 1}])
    assert "source" in client.streams.schema()["properties"]
    assert client.streams.list().total == 0
    with pytest.raises(NotFoundError, match="stream 999999"):
        client.streams.get(999999)
    me = client.access.me()
    assert (me["project"], me["role"]) == ("default", "admin")
    assert {"name": "default", "role": "admin", "active": True} in client.access.projects()
