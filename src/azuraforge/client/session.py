"""One HTTP session with ``/api/v1`` of a running ``azuraforge serve``: the credential and
project sent with each request, timeouts, the API's errors raised as AzuraForge's, pages
walked one after another, and the JSON messages of a WebSocket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from azuraforge.client.environment import API_URL_VARIABLE
from azuraforge.errors import (
    AzuraForgeError,
    ConflictError,
    CredentialError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    StoreUnavailableError,
    TooManyRequestsError,
)

PROJECT_HEADER = "AzuraForge-Project"
"""The header naming a request's project (the API's ``access.PROJECT_HEADER``)."""
API_PATH = "/api/v1"
CLOSE_CODE_BASE = 4000
"""The API closes a WebSocket with ``4000 + status`` for a refusal a request would answer
with ``status`` (4404: an unknown run)."""
PAGE_SIZE = 500
"""Items asked for at once when walking every page (the API's largest page)."""

Items = list[dict[str, Any]]
"""JSON objects the API answers, as dicts (an alias: ``list`` is a method of the resources)."""

ERRORS: dict[int, type[AzuraForgeError]] = {
    400: InvalidParameterError,
    401: CredentialError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidParameterError,
    422: InvalidParameterError,
    503: StoreUnavailableError,
}
"""The error raised for each HTTP status the API answers (any other: AzuraForgeError)."""


@dataclass(frozen=True)
class Page:
    """One page of a list the API answers: its items (JSON objects), and the whole list's
    size (``total``, a lower bound when ``total_exact`` is false: the run list stops
    counting past a limit)."""

    data: Items
    total: int
    offset: int = 0
    limit: int = 0
    total_exact: bool = True

    @classmethod
    def of(cls, answer: dict[str, Any]) -> Page:
        """The page the API answered as ``{"data": [...], "total": ..., ...}``."""
        return cls(
            data=list(answer["data"]),
            total=int(answer["total"]),
            offset=int(answer.get("offset", 0)),
            limit=int(answer.get("limit", 0)),
            total_exact=bool(answer.get("total_exact", True)),
        )


class Session:
    """Requests to the AzuraForge API at ``url``, each sending ``token`` (``Authorization:
    Bearer``) and ``project`` (the ``AzuraForge-Project`` header) when given.

    Thread safety: one session may serve several threads (httpx's client does). Close it,
    or use it as a context manager, to free its connections.

    Parameters
    ----------
    url
        The server's address, as ``http://127.0.0.1:8000`` (without ``/api/v1``).
    token
        An API token (``azuraforge tokens create``); ``None`` sends none.
    project
        The project to work in; ``None``: the token's.
    timeout
        Seconds each request, and a WebSocket's opening, may take.
    login_hint
        Whether a 401 says how to get a token and sign in (not for a run's own credential,
        :class:`~azuraforge.client.ExternalRun`).

    Raises
    ------
    AzuraForgeError
        From :meth:`request`: the subclass matching the API's answer (:data:`ERRORS`) with the
        API's own message, or :class:`StoreUnavailableError` when the API cannot be reached
        or does not answer in time.
    """

    def __init__(
        self, url: str, *, token: str | None = None, project: str | None = None,
        timeout: float = 30.0, login_hint: bool = True,
    ) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.token, self.project = token, project
        self.timeout, self.login_hint = timeout, login_hint
        self.headers: dict[str, str] = {"Authorization": f"Bearer {token}"} if token else {}
        """What each request sends besides its own: the credential, the project."""
        if project:
            self.headers[PROJECT_HEADER] = project
        self._http = httpx.Client(
            base_url=self.url + API_PATH, timeout=timeout, headers=self.headers
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer to ``method path`` (``None`` for 204); ``kwargs`` go to
        :meth:`httpx.Client.request` (``params``, ``json``...).

        Raises
        ------
        AzuraForgeError
            The subclass for the API's status, with the API's message (a 401 adds how to get
            a token).
        StoreUnavailableError
            When the API cannot be reached, or does not answer within the timeout.
        """
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise self._unreachable(method, path, e) from None
        if response.status_code >= 400:
            raise self._error(response)
        return None if response.status_code == 204 else response.json()

    def text(
        self, path: str, params: dict[str, Any] | None = None, *, method: str = "GET",
        json: Any = None,
    ) -> Iterator[str]:  # fmt: skip
        """The text answer to ``method path`` (a CSV, server-sent events...), piece by piece
        as it arrives; ``None`` values in ``params`` are left out. Raises as :meth:`request`
        does."""
        with self._streamed(method, path, params, json) as response:
            yield from response.iter_text()

    def save(self, path: str, target: Path, params: dict[str, Any] | None = None) -> None:
        """Write the answer to ``GET path`` (a URL of this server outside the API, such as a
        file of the MLflow artifact proxy, when it starts with ``/api/2.0``...: see
        :meth:`url_of`) to the file ``target``, piece by piece as it arrives. Raises as
        :meth:`request` does."""
        with self._streamed("GET", path, params, None) as response, target.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)

    def url_of(self, path: str) -> str:
        """The URL of ``path`` on this server outside the API (``/api/2.0/...``), which
        :meth:`request`, :meth:`text` and :meth:`save` take in place of an API path."""
        return self.url + path

    @contextmanager
    def _streamed(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any
    ) -> Iterator[httpx.Response]:
        """The answer to ``method path``, read as it arrives (an error answer raised)."""
        query = without_none(params or {})
        try:
            with self._http.stream(method, path, params=query, json=json) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error(response)
                yield response
        except httpx.TransportError as e:
            raise self._unreachable(method, path, e) from None

    def _unreachable(self, method: str, path: str, error: Exception) -> StoreUnavailableError:
        """Why ``method path`` got no answer: it timed out, or the API is not reachable."""
        if isinstance(error, httpx.TimeoutException):
            return StoreUnavailableError(
                f"the AzuraForge API at {self.url} did not answer {method} {path} within "
                f"{self.timeout:g} s ({type(error).__name__}); try again, or give a longer "
                "timeout"
            )
        return StoreUnavailableError(
            f"cannot reach the AzuraForge API at {self.url} ({error}); start it with "
            f"`azuraforge serve` or set {API_URL_VARIABLE}"
        )

    def page(self, path: str, params: dict[str, Any] | None = None) -> Page:
        """One page of the list at ``path``; ``None`` values in ``params`` are left out."""
        return Page.of(self.request("GET", path, params=without_none(params or {})))

    def each(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of the list at ``path``, page after page (:data:`PAGE_SIZE` at once),
        from ``params["offset"]`` (else the first). Items written meanwhile may shift the
        pages: one may be seen twice or not at all."""
        asked = {**without_none(params or {}), "limit": PAGE_SIZE}
        offset = int(asked.pop("offset", 0))
        while True:
            found = self.page(path, {**asked, "offset": offset}).data
            yield from found
            if len(found) < PAGE_SIZE:
                return
            offset += len(found)

    def messages(self, path: str) -> Iterator[dict[str, Any]]:
        """The JSON messages of the API's WebSocket at ``path``, until the server closes it
        (needs the ``websockets`` package).

        Raises
        ------
        AzuraForgeError
            The subclass for a close code ``4000 + status`` (4404: ``NotFoundError``, 4401:
            ``CredentialError``), with the API's reason.
        StoreUnavailableError
            When the socket cannot be opened or breaks otherwise, naming its URL and why.
        """
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        url = self.websocket_url(path)
        try:
            with connect(
                url, open_timeout=self.timeout, additional_headers=self.headers
            ) as socket:
                for raw in socket:
                    yield json.loads(raw)
        except (OSError, WebSocketException) as e:
            raise _socket_error(url, e) from None

    def websocket_url(self, path: str) -> str:
        """``ws://…/api/v1{path}`` (``wss://`` for an ``https://`` API).

        >>> Session("https://af.lan").websocket_url("/events")
        'wss://af.lan/api/v1/events'
        """
        return "ws" + self.url.removeprefix("http") + API_PATH + path

    def close(self) -> None:
        """Free the session's connections."""
        self._http.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _error(self, response: httpx.Response) -> AzuraForgeError:
        """The AzuraForge error an API error answer stands for, with the API's message."""
        try:
            message = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = response.text[:300] or f"HTTP {response.status_code}"
        status = response.status_code
        if status == 401 and self.login_hint:
            message += (
                f"; make a token on the dashboard's Access page (or `azuraforge tokens "
                f"create` where the server runs), then `azuraforge login --api-url {self.url}`"
            )
        if status == 429:
            wait = response.headers.get("Retry-After", "")
            return TooManyRequestsError(message, retry_after=float(wait) if wait.isdigit() else 1)
        return ERRORS.get(status, AzuraForgeError)(message)


def without_none(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` without its ``None`` values (options not given: httpx would send them
    empty).

    >>> without_none({"status": None, "limit": 20})
    {'limit': 20}
    """
    return {key: value for key, value in params.items() if value is not None}


def _socket_error(url: str, error: Exception) -> AzuraForgeError:
    """The error a WebSocket's failure stands for: the API's refusal when it closed the
    socket with ``4000 + status`` (its reason as the message), else the API unavailable."""
    from websockets.exceptions import ConnectionClosed

    closed = error.rcvd if isinstance(error, ConnectionClosed) else None
    refused = ERRORS.get(closed.code - CLOSE_CODE_BASE) if closed else None
    if closed is None or refused is None:
        return StoreUnavailableError(f"the WebSocket {url} failed ({error})")
    return refused(closed.reason or f"{url} closed with code {closed.code}")
