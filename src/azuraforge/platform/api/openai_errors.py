"""Errors on OpenAI's paths (``/v1/...``) as OpenAI's API answers them, so that OpenAI's
clients raise their own classes (``openai.BadRequestError``, ``AuthenticationError``,
``PermissionDeniedError``, ``NotFoundError``, ``RateLimitError``: openai-python picks the
class by the status) and read the body they expect::

    {"error": {"message": "...", "type": "invalid_request_error", "param": "temperature",
               "code": "invalid_value"}}

A request OpenAI would refuse as invalid is a 400 (where ``/api/v1`` answers 422); the other
statuses are those of ``/api/v1``. ``type`` is OpenAI's ``invalid_request_error`` for a 400,
and for the other statuses the names OpenAI-compatible servers give them (llama.cpp's
server: ``authentication_error``, ``permission_error``, ``not_found_error``;
OpenAI's own ``rate_limit_error``). ``param`` names the request's field at fault, in
OpenAI's form (``messages[0].content``), or is null.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Send

from azuraforge.errors import NotFoundError

OPENAI_PREFIX = "/v1/"
"""The paths of OpenAI's API (``/api/v1/`` is AzuraForge's own)."""

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}
_CODES = {
    "UNAUTHORIZED": "invalid_api_key",
    "TOO_MANY_REQUESTS": "rate_limit_exceeded",
    "INVALID_REQUEST": "invalid_value",
}


class ModelNotFoundError(NotFoundError):
    """A request's ``model`` names no model this server answers with (OpenAI's
    ``model_not_found``)."""

    openai_param = "model"
    openai_code = "model_not_found"


def is_openai_path(path: str) -> bool:
    """Whether ``path`` is one of OpenAI's calls.

    >>> [is_openai_path(p) for p in ("/v1/chat/completions", "/v1", "/api/v1/chat", "/v10")]
    [True, True, False, False]
    """
    return path.startswith(OPENAI_PREFIX) or path == OPENAI_PREFIX.rstrip("/")


def openai_error(
    status: int, code: str, message: str, param: str | None = None
) -> tuple[int, dict[str, Any]]:
    """The status and body OpenAI's clients read for this server's error ``code``
    (``NOT_FOUND``, ``INVALID_REQUEST``...) answered with ``status`` on ``/api/v1``.

    >>> openai_error(422, "INVALID_REQUEST", "temperature: at most 2", "temperature")
    (400, {'error': {'message': 'temperature: at most 2', 'type': 'invalid_request_error', \
'param': 'temperature', 'code': 'invalid_value'}})
    >>> status, body = openai_error(429, "TOO_MANY_REQUESTS", "too many sign-ins at once")
    >>> status, body["error"]["type"], body["error"]["code"]
    (429, 'rate_limit_error', 'rate_limit_exceeded')
    >>> openai_error(401, "UNAUTHORIZED", "no valid credential")[1]["error"]["type"]
    'authentication_error'
    """
    if status == 422:  # OpenAI answers 400 to what it cannot take, whatever the reason
        status = 400
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"message": message, "type": kind, "param": param,
            "code": _CODES.get(code, code.lower())}  # fmt: skip
    return status, {"error": body}


def validation_error(error: dict[str, Any]) -> tuple[str, str, str | None]:
    """The code, message and field (``param``) of a pydantic validation ``error`` of a request
    as OpenAI words them: the field named, and for a length its unit (characters of a text,
    tokens of a ``*_tokens`` field).

    >>> validation_error({"loc": ("body", "temperature"), "type": "less_than_equal",
    ...                   "msg": "Input should be less than or equal to 2", "input": 3})[1]
    "Invalid value for 'temperature': Input should be less than or equal to 2; got 3"
    >>> validation_error({"loc": ("body", "max_tokens"), "type": "less_than_equal",
    ...                   "msg": "...", "ctx": {"le": 32768}, "input": 40000})[1]
    "Invalid value for 'max_tokens': at most 32768 tokens, got 40000"
    >>> validation_error({"loc": ("body", "messages"), "type": "missing", "msg": "..."})
    ('MISSING_REQUIRED_PARAMETER', "Missing required parameter: 'messages'.", 'messages')
    """
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "json_invalid":  # its location is a position in the body, not a field
        why = ctx.get("error", error["msg"])
        return "INVALID_JSON", f"the body is not valid JSON: {why}", None
    param = field_name(tuple(error["loc"]))
    name = param or "body"
    if kind == "missing":
        return "MISSING_REQUIRED_PARAMETER", f"Missing required parameter: {name!r}.", param
    if name.endswith("_tokens") and kind in ("less_than_equal", "greater_than_equal"):
        bound = f"at most {ctx['le']}" if "le" in ctx else f"at least {ctx['ge']}"
        return "INVALID_REQUEST", f"Invalid value for {name!r}: {bound} tokens, got {given}", param
    shown = f"; got {given}" if isinstance(given, int | float) else ""
    return "INVALID_REQUEST", f"Invalid value for {name!r}: {error['msg']}{shown}", param


def field_name(loc: tuple[int | str, ...]) -> str | None:
    """A validation error's location as OpenAI names a field (where it sent the request: the
    body, the path or the query, left out).

    >>> field_name(("body", "messages", 0, "content"))
    'messages[0].content'
    >>> field_name(("body",)) is None
    True
    """
    name = ""
    for part in loc[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return name or None


async def send_error(send: Send, status: int, code: str, message: str, path: str) -> None:
    """Answer ``status`` with the API's error body ``{"error": {"code", "message"}}``, or
    OpenAI's on its paths: for the refusals made before any route (limits, hosts, origins)."""
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if is_openai_path(path):
        status, body = openai_error(status, code, message)
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
