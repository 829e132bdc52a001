"""read_body answers as FastAPI's own reading of a body parameter does: the same model read
from a good body, the same errors for a bad one (invalid JSON, empty, not JSON by its type,
a field that does not validate), so a route may read its body in one pass."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from azuraforge.platform.api.one_pass_body import read_body


class Point(BaseModel):
    key: str
    step: int = 0


class Batch(BaseModel):
    run_id: str
    points: list[Point] = []


def _app() -> FastAPI:
    app = FastAPI()

    @app.exception_handler(RequestValidationError)
    def refused(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = [{k: e[k] for k in ("type", "loc", "msg")} for e in error.errors()]
        return JSONResponse({"errors": errors, "body": repr(error.body)}, status_code=422)

    @app.post("/fastapi")
    def fastapi_reads(body: Batch) -> dict[str, Any]:
        return body.model_dump()

    @app.post("/one-pass")
    async def one_pass(request: Request) -> dict[str, Any]:
        body = read_body(Batch, await request.body(), request.headers.get("content-type"))
        return body.model_dump()

    return app


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"run_id": "r", "points": [{"key": "a", "step": "3"}], "x": 1}', "application/json"),
        (b'{"run_id": "r"}', "application/vnd.x+json; charset=utf-8"),
        (b'{"run_id": "r", "points": [{"step": 1}]}', "application/json"),
        (b'{"run_id": 5}', "application/json"),
        (b'{"run_id": "r",', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"", "application/json"),
        (b'{"run_id": "r"}', "text/plain"),
        (b'{"run_id": "r"}', None),
    ],
)  # fmt: skip
def test_a_body_is_read_and_refused_as_fastapi_reads_it(
    content: bytes, content_type: str | None
) -> None:
    client = TestClient(_app())
    headers = {"content-type": content_type} if content_type else {}
    theirs = client.post("/fastapi", content=content, headers=headers)
    ours = client.post("/one-pass", content=content, headers=headers)
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())
