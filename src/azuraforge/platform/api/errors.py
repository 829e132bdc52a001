"""One table from error class to HTTP status and code; the JSON body every error has:
``{"error": {"code": "NOT_FOUND", "message": "...", "details": [...]}}``, but on MLflow's
paths (MLflow's body) and OpenAI's, ``/v1/...`` (OpenAI's statuses and body:
:mod:`~azuraforge.platform.api.openai_errors`).

A body tells the client what it sent and what to change, never where the server keeps its
files or its store, nor what else is stored: each error is shown by its public form, and
the whole body passes through the app's :class:`~azuraforge.platform.redaction.Redaction`
(``app.state.redaction``). An unexpected error is a 500 naming only its class; its message
and traceback go to the server's log, as do the full messages of the 5xx in the table.
"""

from __future__ import annotations

import errno
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from azuraforge.errors import (
    AzuraForgeError,
    BlobStoreUnavailableError,
    ConflictError,
    CredentialError,
    DataFormatError,
    DiskFullError,
    InvalidParameterError,
    ModelUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    PluginError,
    ReferenceNotFoundError,
    SchemaMismatchError,
    StoreUnavailableError,
    TooManyRequestsError,
    TransportUnavailableError,
    UnstorableValueError,
    public_message,
)
from azuraforge.platform.api.openai_errors import is_openai_path, openai_error, validation_error
from azuraforge.platform.redaction import Redaction
from azuraforge.platform.services.mlflow_api import (
    AlreadyExistsError,
    NotServedError,
    is_mlflow_path,
    mlflow_error,
    validation_message,
)
from azuraforge.platform.services.mlflow_serving import ModelFailedError, RowsRefusedError
from azuraforge.platform.services.predictions import InvalidInputError
from azuraforge.platform.services.validation import ConfigError
from azuraforge.platform.store.engine import refused_value_message

_log = logging.getLogger(__name__)

STATUS: list[tuple[type[Exception], int, str]] = [
    (ConfigError, 422, "INVALID_CONFIG"),
    (InvalidInputError, 422, "INVALID_INPUT"),
    (RowsRefusedError, 422, "INVALID_INPUT"),
    (ModelFailedError, 422, "MODEL_FAILED"),
    (ReferenceNotFoundError, 422, "UNKNOWN_REFERENCE"),
    (NotServedError, 501, "NOT_IMPLEMENTED"),
    (AlreadyExistsError, 409, "ALREADY_EXISTS"),
    (NotFoundError, 404, "NOT_FOUND"),
    (ConflictError, 409, "CONFLICT"),
    (CredentialError, 401, "UNAUTHORIZED"),
    (PermissionDeniedError, 403, "FORBIDDEN"),
    (TooManyRequestsError, 429, "TOO_MANY_REQUESTS"),
    (UnstorableValueError, 422, "INVALID_DATA"),
    (DataFormatError, 422, "INVALID_DATA"),
    (InvalidParameterError, 400, "INVALID_PARAMETER"),
    (PluginError, 422, "PLUGIN_UNAVAILABLE"),
    (StoreUnavailableError, 503, "STORE_UNAVAILABLE"),
    (TransportUnavailableError, 503, "BROKER_UNAVAILABLE"),
    (BlobStoreUnavailableError, 503, "BLOB_STORE_UNAVAILABLE"),
    (DiskFullError, 507, "INSUFFICIENT_STORAGE"),
    (SchemaMismatchError, 503, "SCHEMA_MISMATCH"),
    (ModelUnavailableError, 503, "MODEL_UNAVAILABLE"),
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


def _answer(
    request: Request, status: int, code: str, message: str, details: Any = None,
    param: str | None = None,
) -> JSONResponse:  # fmt: skip
    """The error body, redacted for the client; in MLflow's form for MLflow's calls, in
    OpenAI's (naming the field ``param`` at fault) for OpenAI's."""
    redact: Redaction = request.app.state.redaction
    if is_mlflow_path(request.url.path):
        status, body = mlflow_error(status, code, redact(message))
        return JSONResponse(body, status_code=status)
    if is_openai_path(request.url.path):
        status, body = openai_error(status, code, redact(message), param)
        return JSONResponse(body, status_code=status)
    return error_response(status, code, redact(message), redact.json(details))


def _table_error(request: Request, error: Exception) -> JSONResponse:
    for cls, status, code in STATUS:
        if isinstance(error, cls):
            details = None
            if isinstance(error, ConfigError):
                details = [{"loc": [error.field, *loc], "msg": msg} for loc, msg in error.problems]
            if status >= 500:
                _log.warning("%s answered %d: %s", request.url.path, status, error)
            param = getattr(error, "openai_param", None)
            if is_openai_path(request.url.path):
                code = getattr(error, "openai_code", code)
            response = _answer(request, status, code, _message(error), details, param)
            if isinstance(error, TooManyRequestsError):
                response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
            return response
    return _unexpected(request, error)


def _unexpected(request: Request, error: Exception) -> JSONResponse:
    """A 500 naming the error's class alone: its message may hold anything (a path, a query)."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:  # wherever it was written
        full = DiskFullError(
            f"the server's disk is full: {error}",
            public="the server's disk is full: what the request wrote was not kept; try "
            "again once its operator freed space",
        )
        return _table_error(request, full)
    _log.error("%s failed", request.url.path, exc_info=error)
    name = type(error).__name__
    message = f"internal error ({name}); the server's log says more"
    if is_mlflow_path(request.url.path):
        return JSONResponse(mlflow_error(500, "INTERNAL", message)[1], status_code=500)
    if is_openai_path(request.url.path):
        return JSONResponse(openai_error(500, "INTERNAL", message)[1], status_code=500)
    return error_response(500, "INTERNAL", message)


def _message(error: Exception) -> str:
    return refused_value_message(error) if isinstance(error, DataError) else public_message(error)


def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [
        {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in error.errors()
    ]
    if is_openai_path(request.url.path):  # OpenAI's clients show one message: the first
        code, message, param = validation_error(error.errors()[0])
        return _answer(request, 422, code, message, param=param)
    if is_mlflow_path(request.url.path):  # MLflow's words, which its tests read
        message = validation_message(error.errors(), error.body)
        return _answer(request, 422, "INVALID_REQUEST", message, details)
    shown = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details[:5])
    return _answer(request, 422, "INVALID_REQUEST", f"invalid request: {shown}", details)


def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, f"HTTP_{error.status_code}")
    response = _answer(request, error.status_code, code, str(error.detail))
    response.headers.update(error.headers or {})
    if error.status_code == 405:  # Starlette's Allow names the first matching route's only
        given = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
        allowed = given | request.app.state.methods.at(request.url.path)
        response.headers["Allow"] = ", ".join(sorted(allowed))
    return response


def install(app: FastAPI, redaction: Redaction) -> None:
    """Register the handlers that turn errors into the JSON body above, told through
    ``redaction``."""
    app.state.redaction = redaction
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(AzuraForgeError, _table_error)
    app.add_exception_handler(DataError, _table_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
