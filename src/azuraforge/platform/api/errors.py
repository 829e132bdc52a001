"""One table from error class to HTTP status and code; the JSON body every error has:
``{"error": {"code": "NOT_FOUND", "message": "...", "details": [...]}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from azuraforge.errors import (
    AzuraForgeError,
    ConflictError,
    InvalidParameterError,
    NotFoundError,
    PluginError,
    SchemaMismatchError,
    StoreUnavailableError,
    TransportUnavailableError,
    UnstorableValueError,
)
from azuraforge.platform.services.experiments import ConfigError
from azuraforge.platform.services.predictions import InvalidInputError
from azuraforge.platform.store.engine import refused_value_message

_log = logging.getLogger(__name__)

STATUS: list[tuple[type[Exception], int, str]] = [
    (ConfigError, 422, "INVALID_CONFIG"),
    (InvalidInputError, 422, "INVALID_INPUT"),
    (NotFoundError, 404, "NOT_FOUND"),
    (ConflictError, 409, "CONFLICT"),
    (UnstorableValueError, 422, "INVALID_DATA"),
    (InvalidParameterError, 400, "INVALID_PARAMETER"),
    (PluginError, 422, "PLUGIN_UNAVAILABLE"),
    (StoreUnavailableError, 503, "STORE_UNAVAILABLE"),
    (TransportUnavailableError, 503, "BROKER_UNAVAILABLE"),
    (SchemaMismatchError, 503, "SCHEMA_MISMATCH"),
    # The same refusal raised outside the store's own transactions.
    (DataError, 422, "INVALID_DATA"),
]
"""First match wins: subclasses before their bases."""

_HTTP_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "TOO_LARGE"}


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def _table_error(request: Request, error: Exception) -> JSONResponse:
    for cls, status, code in STATUS:
        if isinstance(error, cls):
            details = None
            if isinstance(error, ConfigError):
                details = [{"loc": [error.field, *loc], "msg": msg} for loc, msg in error.problems]
            return error_response(status, code, _message(error), details)
    _log.exception("unexpected %s", type(error).__name__, exc_info=error)
    return error_response(500, "INTERNAL", f"{type(error).__name__}: {error}")


def _message(error: Exception) -> str:
    return refused_value_message(error) if isinstance(error, DataError) else str(error)


def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [
        {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in error.errors()
    ]
    shown = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details[:5])
    return error_response(422, "INVALID_REQUEST", f"invalid request: {shown}", details)


def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, f"HTTP_{error.status_code}")
    response = error_response(error.status_code, code, str(error.detail))
    response.headers.update(error.headers or {})
    if error.status_code == 405:  # Starlette's Allow names the first matching route's only
        given = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
        allowed = given | request.app.state.methods.at(request.url.path)
        response.headers["Allow"] = ", ".join(sorted(allowed))
    return response


def install(app: FastAPI) -> None:
    """Register the handlers that turn errors into the JSON body above."""
    app.add_exception_handler(AzuraForgeError, _table_error)
    app.add_exception_handler(DataError, _table_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
