"""Renaming a run and writing its notes (``PATCH /runs/{id}``): any run's, whatever
its status, by a role that writes; a taken name is 409 naming it, notes past their limit
422; followers get an ``edited`` event; refused to a viewer and across projects."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.services.validation import MAX_NAME
from azuraforge.platform.store import Store
from azuraforge.platform.store.experiments import MAX_NOTES
from tests.platform.fixtures import admin_headers, user_headers


def queued(client: TestClient, name: str) -> int:
    made = client.post("/api/v1/runs", json={"pipeline": "sleeper", "name": name})
    assert made.status_code == 201, made.text
    return int(made.json()["data"][0]["id"])


@pytest.mark.on_both_databases
def test_a_run_is_renamed_and_noted_whatever_its_status(client: TestClient, store: Store) -> None:
    run, other = queued(client, "first"), queued(client, "second")
    renamed = client.patch(f"/api/v1/runs/{run}", json={"name": "baseline lr=0.1"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["notes"]) == ("baseline lr=0.1", "")
    assert queued(client, "first") > other  # the old name is free again

    taken = client.patch(f"/api/v1/runs/{run}", json={"name": "second"})
    assert taken.status_code == 409
    assert "an experiment named 'second' already exists in project 'default'" in taken.text

    assert client.post(f"/api/v1/runs/{run}/cancel").json()["status"] == "cancelled"
    text = "Diverged after epoch 3: try a smaller learning rate.\nSee run 2."
    noted = client.patch(f"/api/v1/runs/{run}", json={"notes": text})
    assert noted.status_code == 200, noted.text
    shown = client.get(f"/api/v1/runs/{run}").json()
    assert (shown["name"], shown["notes"], shown["status"]) == (
        "baseline lr=0.1",
        text,
        "cancelled",
    )
    both = client.patch(f"/api/v1/runs/{run}", json={"name": "lr=0.1", "notes": ""})
    assert (both.json()["name"], both.json()["notes"]) == ("lr=0.1", "")
    assert store.get_experiment(run).notes is None  # cleared

    edits = store.list_events(experiment_id=run, kinds=["edited"])
    assert [e.payload for e in edits] == [
        {"name": "baseline lr=0.1"}, {"notes": text}, {"name": "lr=0.1", "notes": None}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "give the run's new name, its notes, or both"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),  # absent when not changed, never null
        ({"name": "x" * (MAX_NAME + 1)}, f"at most {MAX_NAME} characters"),
        ({"notes": "n" * (MAX_NOTES + 1)}, "at most 10000 characters"),
        ({"notes": 3}, "notes"),
        ({"status": "completed"}, "status"),
    ],
)
def test_a_bad_edit_is_422_saying_why_and_changes_nothing(
    client: TestClient, store: Store, body: dict[str, object], fragment: str
) -> None:
    run = queued(client, "kept")
    refused = client.patch(f"/api/v1/runs/{run}", json=body)
    assert refused.status_code == 422 and fragment in refused.text, refused.text
    record = store.get_experiment(run)
    assert (record.name, record.notes) == ("kept", None)
    assert not store.list_events(experiment_id=run, kinds=["edited"])


def test_notes_of_the_limit_are_kept_whole(client: TestClient, store: Store) -> None:
    run = queued(client, "long notes")
    notes = "é" * MAX_NOTES
    assert client.patch(f"/api/v1/runs/{run}", json={"notes": notes}).status_code == 200
    assert client.get(f"/api/v1/runs/{run}").json()["notes"] == notes


def test_a_viewer_and_another_project_cannot_edit_a_run(client: TestClient, store: Store) -> None:
    run = queued(client, "mine")
    viewer = user_headers(store, "vera", role="viewer")
    refused = client.patch(f"/api/v1/runs/{run}", json={"name": "x"}, headers=viewer)
    assert refused.status_code == 403
    store.create_project("other")
    elsewhere = client.patch(f"/api/v1/runs/{run}", json={"notes": "x"},
                             headers=admin_headers(store, "other"))  # fmt: skip
    assert elsewhere.status_code == 404
    assert client.patch("/api/v1/runs/999999", json={"name": "x"}).status_code == 404
    assert (store.get_experiment(run).name, store.get_experiment(run).notes) == ("mine", None)
