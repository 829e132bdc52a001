"""Requests addressed to a host the server does not know (DNS rebinding) are refused, by HTTP
and WebSocket, whatever form the Host header takes; the loopback names in any form pass.
``tests/cli/test_serve.py`` checks the same on a real server with its bound address."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST:8000", "localhost.", "127.0.0.1:8000", "127.0.0.2", "[::1]:8000",
     "[0:0::1]", "testserver"],
)  # fmt: skip
def test_the_loopback_names_and_the_allowed_hosts_are_answered(
    read_only_client: TestClient, host: str
):
    assert read_only_client.get("/api/v1/health", headers={"host": host}).status_code == 200


@pytest.mark.parametrize(
    "host",
    ["attacker.example:8731", "127.0.0.1.attacker.example", "localhost@attacker.example",
     "localhost:8000:1", "[::ffff:127.0.0.1]", "::1", "[::1]x", "", "*", "10.0.0.5",
     "testserver.attacker.example"],
)  # fmt: skip
def test_any_other_host_is_refused_naming_it_and_the_setting(
    read_only_client: TestClient, host: str
):
    answer = read_only_client.get("/api/v1/runs", headers={"host": host})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "HOST_NOT_ALLOWED"
    assert f"requests addressed to host {host!r} are refused" in error["message"]
    assert "AZURAFORGE_ALLOWED_HOSTS (azuraforge serve --allowed-hosts)" in error["message"]


def test_two_host_headers_or_one_beyond_ascii_are_refused(read_only_client: TestClient):
    for hosts in (["attacker.example", "localhost"], ["localhost", "attacker.example"]):
        answer = read_only_client.get("/", headers=[("host", host) for host in hosts])
        assert answer.status_code == 400
    latin = read_only_client.get("/", headers={"host": "l\xf6calhost".encode("latin-1")})
    assert latin.status_code == 400


def test_a_long_host_is_cut_in_the_message(read_only_client: TestClient):
    host = "a" * 5000 + ".example"
    message = read_only_client.get("/", headers={"host": host}).json()["error"]["message"]
    assert f"host '{'a' * 100}' are refused" in message


def test_a_websocket_addressed_to_another_host_is_closed_with_4400(
    read_only_client: TestClient,
):
    headers = {"host": "attacker.example", "origin": "http://attacker.example"}
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        read_only_client.websocket_connect("/api/v1/events", headers=headers) as socket,
    ):
        socket.receive_text()  # accepted, then closed with the code
    assert closed.value.code == 4400
