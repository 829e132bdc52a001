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
        f"{API}/experiments", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json() == {"error": TOO_LARGE}
    assert client.get(f"{API}/experiments").json()["total"] == 0


def test_a_chunked_body_under_the_limit_is_read(client: TestClient):
    def chunks() -> Iterator[bytes]:
        yield b'{"pipeline": "sleeper",'
        yield b' "name": "streamed"}'

    response = client.post(
        f"{API}/experiments", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"][0]["name"] == "streamed"
