"""The session against a real API: each refusal raised as the AzuraForge error it stands for,
with the API's message; an API that is not there or does not answer; pages walked one after
another; a run's events over a WebSocket."""

from __future__ import annotations

import socket

import pytest

from azuraforge.client import Client, Session
from azuraforge.client import session as session_module
from azuraforge.errors import (
    ConflictError,
    CredentialError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    StoreUnavailableError,
)
from azuraforge.platform.store import Store
from tests.platform.fixtures import user_headers
from tests.platform.servers import free_port


def test_each_refusal_is_the_matching_error_with_the_apis_message(
    served: tuple[str, Store], admin_token: str
) -> None:
    url, store = served
    body = {"pipeline": "sleeper", "name": "taken"}
    with Session(url, token=admin_token) as session:
        with pytest.raises(NotFoundError, match="experiment 999999 not found"):
            session.request("GET", "/runs/999999")
        with pytest.raises(InvalidParameterError, match="steps: Input should be greater than"):
            session.request("POST", "/runs", json={**body, "config": {"steps": 0}})
        session.request("POST", "/runs", json=body)
        with pytest.raises(ConflictError, match="'taken' already exists"):
            session.request("POST", "/runs", json=body)
    with Session(url) as anonymous, pytest.raises(CredentialError) as refused:
        anonymous.request("GET", "/runs")
    assert "no valid credential" in str(refused.value)
    assert f"then `azuraforge login --api-url {url}`" in str(refused.value)  # what to do
    viewer = user_headers(store, "vi", "viewer")["Authorization"].removeprefix("Bearer ")
    with Session(url, token=viewer) as session, pytest.raises(PermissionDeniedError) as denied:
        session.request("POST", "/runs", json={"pipeline": "sleeper"})
    assert "viewer" in str(denied.value) and "Traceback" not in str(denied.value)


def test_an_api_not_there_or_not_answering_is_unavailable_saying_which() -> None:
    with socket.socket() as silent:  # its backlog takes the connection; nobody answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with Session(url, timeout=0.2) as session, pytest.raises(StoreUnavailableError) as late:
            session.request("GET", "/runs")
    assert f"the AzuraForge API at {url} did not answer GET /runs within 0.2 s" in str(late.value)
    gone = f"http://127.0.0.1:{free_port()}"
    with Session(gone) as session, pytest.raises(StoreUnavailableError) as unreachable:
        session.request("GET", "/runs")
    assert f"cannot reach the AzuraForge API at {gone}" in str(unreachable.value)
    assert "start it with `azuraforge serve` or set AZURAFORGE_API_URL" in str(unreachable.value)


def test_each_walks_every_page_in_the_lists_order(
    served: tuple[str, Store], admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "PAGE_SIZE", 2)  # five runs: pages of 2, 2 and 1
    with Client(served[0], token=admin_token) as client:
        made = client.runs.submit("sleeper", grid={"steps": [1, 2, 3, 4, 5]})
        batch = made[0]["batch_id"]
        newest_first = sorted((run["id"] for run in made), reverse=True)
        page = client.runs.list(batch=batch, limit=2, offset=1)
        assert (page.total, page.total_exact, page.offset, page.limit) == (5, True, 1, 2)
        assert [run["id"] for run in page.data] == newest_first[1:3]
        assert [run["id"] for run in client.runs.each(batch=batch)] == newest_first
        oldest = client.runs.each(batch=batch, ascending=True, offset=1)
        assert [run["id"] for run in oldest] == sorted(newest_first)[1:]


def test_a_runs_events_end_with_its_status_and_an_unknown_runs_are_not_found(
    served: tuple[str, Store], admin_token: str
) -> None:
    with Client(served[0], token=admin_token) as client:
        (run,) = client.runs.submit("sleeper")
        assert client.runs.cancel(run["id"])["status"] == "cancelled"  # queued: at once
        messages = list(client.runs.events(run["id"]))
        assert messages[0]["type"] == "history"
        assert messages[-1] == {"type": "end", "status": "cancelled"}
        with pytest.raises(NotFoundError, match="experiment 999999 not found"):
            list(client.runs.events(999999))
