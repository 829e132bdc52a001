"""The dashboard's files as the API serves them: the page with its content security policy,
its scripts, Plotly.js from the plotly package (compressed), and nothing outside its folder.
The tests that only read share one API (``read_only_client``)."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from azuraforge.platform.api.app import create_app
from azuraforge.platform.dashboard import CONTENT_SECURITY_POLICY, STATIC
from tests.platform.fixtures import admin_headers


def test_the_page_is_served_at_the_root_with_its_policy(read_only_client: TestClient):
    page = read_only_client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    policy = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert policy["script-src"] == "'self' 'unsafe-eval'"  # never 'unsafe-inline'
    assert policy["connect-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert '<script type="module" src="/ui/js/app.js">' in page.text
    assert read_only_client.head("/").status_code == 200


def test_every_script_the_page_names_is_served(read_only_client: TestClient):
    scripts = sorted(STATIC.rglob("*.js"))
    assert len(scripts) > 8
    for script in scripts:
        response = read_only_client.get(f"/ui/{script.relative_to(STATIC).as_posix()}")
        assert response.status_code == 200, script
        assert response.headers["content-type"].startswith("text/javascript")
    style = read_only_client.get("/ui/style.css")
    assert style.status_code == 200
    assert style.headers["cache-control"] == "no-cache"  # an upgrade is seen at once
    revalidated = read_only_client.get(
        "/ui/style.css", headers={"if-none-match": style.headers["etag"]}
    )
    assert revalidated.status_code == 304


def test_plotly_comes_from_the_plotly_package_compressed(read_only_client: TestClient):
    bundled = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    packed = read_only_client.get("/ui/vendor/plotly.min.js", headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == bundled  # httpx decodes it
    assert int(packed.headers["content-length"]) < len(bundled) / 2
    plain = read_only_client.get(
        "/ui/vendor/plotly.min.js", headers={"accept-encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers and plain.content == bundled


def test_the_api_docs_page_runs_the_packages_swagger_ui_under_the_same_policy(
    read_only_client: TestClient,
):
    page = read_only_client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    swagger = "/ui/vendor/swagger-ui"
    assert sources == [f"{swagger}/swagger-ui.css", "data:,", f"{swagger}/swagger-ui-bundle.js",
                       "/ui/api-docs.js"]  # fmt: skip
    for source in sources[:1] + sources[2:]:
        served = read_only_client.get(source, headers={"accept-encoding": "gzip"})
        assert served.status_code == 200, source
        assert served.content == (STATIC / source.removeprefix("/ui/")).read_bytes()
    assert served.headers["content-encoding"] == "gzip"
    assert "<script>" not in page.text  # the policy would refuse an inline script
    assert read_only_client.get("/openapi.json").status_code == 200
    for gone in ("/redoc", "/docs/oauth2-redirect"):  # ReDoc came from a CDN; no OAuth
        assert read_only_client.get(gone).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/ui/../pyproject.toml",
        "/ui/%2e%2e/__init__.py",
        "/ui/js/nothing.js",
        "/ui/",
        "/ui/index.html",
    ],  # the page only ever comes with its policy, at /
)
def test_nothing_outside_the_dashboards_folder_or_missing_is_served(
    read_only_client: TestClient, path
):
    response = read_only_client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_the_api_keeps_its_own_errors_beside_the_dashboard(read_only_client: TestClient):
    assert read_only_client.get("/api/v1/nothing").json()["error"]["code"] == "NOT_FOUND"
    assert read_only_client.post("/api/v1/runs/1").status_code == 405
    assert read_only_client.post("/").status_code == 405


def test_other_sites_pages_may_not_change_anything_nor_follow_streams(client: TestClient):
    other = {"origin": "https://evil.example"}
    refused = client.post("/api/v1/runs", json={"pipeline": "sleeper"}, headers=other)
    assert refused.status_code == 403
    assert "requests from https://evil.example are refused" in refused.json()["error"]["message"]
    assert client.post("/api/v1/runs/1/cancel", headers=other).status_code == 403
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/api/v1/events", headers=other) as socket,
    ):
        socket.receive_text()  # accepted, then closed with the code
    assert closed.value.code == 4403
    assert client.get("/api/v1/runs", headers=other).status_code == 200  # reads: CORS
    same = {"origin": "http://testserver"}
    created = client.post("/api/v1/runs", json={"pipeline": "sleeper"}, headers=same)
    assert created.status_code == 201
    assert client.post("/api/v1/runs", json={"pipeline": "sleeper"}).status_code == 201


def test_an_allowed_origin_may(settings, store):
    allowed = settings.model_copy(update={"allowed_origins": ["https://ops.example.org"]})
    with TestClient(create_app(allowed, store=store), headers=admin_headers(store)) as client:
        headers = {"origin": "https://ops.example.org"}
        answer = client.post("/api/v1/runs", json={"pipeline": "nope"}, headers=headers)
        assert answer.status_code == 404  # past the check: no such pipeline


def test_a_runs_files_are_sandboxed_and_only_images_and_text_shown(
    client: TestClient, blobs, store
):
    run = store.create_experiment("sleeper", {})
    for name in ("plot.png", "notes.md", "page.html", "drawing.svg"):
        blobs.put_bytes(f"runs/{run.id}/{name}", b"<html><script>alert(1)</script></html>")
    for name, shown in [("plot.png", True), ("notes.md", True), ("page.html", False),
                        ("drawing.svg", False)]:  # fmt: skip
        answer = client.get(f"/api/v1/runs/{run.id}/artifacts/{name}")
        assert answer.status_code == 200
        assert answer.headers["content-security-policy"].startswith("sandbox")
        assert answer.headers["x-content-type-options"] == "nosniff"
        disposition = answer.headers.get("content-disposition", "")
        assert disposition.startswith("attachment") is not shown, name
