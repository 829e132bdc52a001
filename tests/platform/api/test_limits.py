"""The request body limit (api/limits.py): declared or streamed, a body over the limit is a 413
with the API's JSON error."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

API = "/api/v1"
TOO_LARGE = {
    "code": "TOO_LARGE",
    "message": "request body over 1,000,000 bytes; send less "
    "(limit: AZURAFORGE_MAX_REQUEST_BYTES)",
}


def test_a_chunked_body_over_the_limit_is_413_with_the_json_error(client: TestClient):
    """No content-length to refuse up front: the route's body reading failed first and FastAPI
    answered 400 "There was an error parsing the body"."""

    def chunks() -> Iterator[bytes]:
        yield b'{"pipeline": "'
        for _ in range(30):
            yield b"x" * 100_000

    response = client.post(
        f"{API}/runs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json() == {"error": TOO_LARGE}
    assert client.get(f"{API}/runs").json()["total"] == 0


def test_a_chunked_body_under_the_limit_is_read(client: TestClient):
    def chunks() -> Iterator[bytes]:
        yield b'{"pipeline": "sleeper",'
        yield b' "name": "streamed"}'

    response = client.post(
        f"{API}/runs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"][0]["name"] == "streamed"


def test_headers_past_their_limits_are_431_with_the_json_error(read_only_client: TestClient):
    """100 KB of headers, and 2,000 headers, were accepted."""
    big = read_only_client.get(f"{API}/runs", headers={"x-filler": "x" * 100_000})
    assert big.status_code == 431
    assert big.json()["error"]["message"].endswith("bytes; at most 32,768 are read")
    many = {f"x-filler-{i}": "x" for i in range(2000)}
    crowded = read_only_client.get(f"{API}/runs", headers=many)
    assert crowded.status_code == 431
    assert crowded.json()["error"] == {
        "code": "HEADERS_TOO_LARGE",
        "message": f"{2000 + len(read_only_client.headers) + 1:,} header fields; at most 100 "
        "are read",
    }
    near = {f"x-filler-{i}": "x" * 200 for i in range(80)}
    assert read_only_client.get(f"{API}/runs", headers=near).status_code == 200
