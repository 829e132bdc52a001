"""A 405 carries ``Allow`` naming every method the path answers (RFC 9110), over all the
routes that serve it, as OpenAPI lists them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/runs/1", "DELETE, GET, PATCH"),
        ("OPTIONS", "/api/v1/runs", "GET, POST"),
        ("PUT", "/api/v1/models/weather@champion/predictions", "GET, POST"),
        ("POST", "/api/v1/models/weather/aliases/champion/history", "GET"),
        ("DELETE", "/api/v1/studies", "GET, POST"),
        ("POST", "/", "GET, HEAD"),
    ],
)
def test_a_405_names_every_method_of_the_path(
    read_only_client: TestClient, method: str, path: str, allowed: str
):
    response = read_only_client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_allow_matches_the_openapi_of_every_path(read_only_client: TestClient):
    """The methods OpenAPI documents for each path are those a 405 there names."""
    paths = read_only_client.get("/openapi.json").json()["paths"]
    for template, operations in paths.items():
        path = template.replace("{", "").replace("}", "")  # a value for each parameter
        answered = read_only_client.request("TRACE", path)
        assert answered.status_code == 405, path
        assert set(answered.headers["allow"].split(", ")) == {m.upper() for m in operations}
