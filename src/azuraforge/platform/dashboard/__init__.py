"""The dashboard: a web app of plain HTML, CSS and ES modules that the API serves at ``/``.

It is a client of the public API (``/api/v1``) like the CLI, with no build step: the files
under ``static/`` are served as they are, and Plotly.js comes from the ``plotly`` Python
package's own bundled file, never a CDN. The API's documentation page (``/docs``) is served
the same way: Swagger UI from the copy under ``static/vendor/swagger-ui/`` (its README
names the version), under the same policy. Pages are addressed by the URL's fragment
(``/#/runs/12``), so any page's address can be shared or reloaded.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

PAGE = Path(__file__).parent / "index.html"
"""The dashboard's one page, outside the served folder: it is only ever served with its
policy."""
DOCS_PAGE = Path(__file__).parent / "docs.html"
"""The API's documentation page (Swagger UI), likewise."""
STATIC = Path(__file__).parent / "static"
ASSETS = "/ui"
"""Where the dashboard's files are served (``/ui/js/app.js``...)."""
PLOTLY = f"{ASSETS}/vendor/plotly.min.js"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # Plotly's WebGL charts (parallel coordinates, large scatter plots) compile their
        # shaders' drawing code with new Function(): they need 'unsafe-eval'. Inline and
        # foreign scripts stay refused, and the dashboard never evaluates data.
        "script-src 'self' 'unsafe-eval'",
        # Plotly sets style attributes and injects its own stylesheet.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",  # 'self' covers the same host's ws: and wss:
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
"""Only the dashboard's own files run: a report or a run name can never bring a script."""


def install(app: FastAPI) -> None:
    """Serve the dashboard on ``app``: the page at ``/``, the API's documentation page at
    ``/docs``, their files under ``/ui``."""
    app.add_api_route("/", index, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route("/docs", docs, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(PLOTLY, plotly_js, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount(ASSETS, GZipMiddleware(_Files(directory=STATIC)), name="dashboard")


def index() -> FileResponse:
    """The dashboard's one page; the script it loads draws the page the fragment names."""
    return _page(PAGE)


def docs() -> FileResponse:
    """The API's documentation: Swagger UI drawing ``/openapi.json``."""
    return _page(DOCS_PAGE)


def _page(path: Path) -> FileResponse:
    headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}
    return FileResponse(path, headers=headers)


def plotly_js(request: Request) -> Response:
    """Plotly.js as the ``plotly`` package bundles it, compressed once per process."""
    plain, packed = _plotly_bytes()
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="text/javascript", headers=headers)
    return Response(plain, media_type="text/javascript", headers=headers)


class _Files(StaticFiles):
    """The dashboard's files, checked with the server on every use (``no-cache``: the ETag
    still spares the download), so an upgraded server never runs with last version's
    modules."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


@functools.cache
def _plotly_bytes() -> tuple[bytes, bytes]:
    plain = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    return plain, gzip.compress(plain, compresslevel=6)
