"""The CLI's client of the REST API: one place that turns HTTP errors into AzuraForge errors."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from azuraforge.errors import (
    AzuraForgeError,
    ConflictError,
    CredentialError,
    InvalidParameterError,
    NotFoundError,
    StoreUnavailableError,
)

API_URL_VARIABLE = "AZURAFORGE_API_URL"
TOKEN_VARIABLE = "AZURAFORGE_TOKEN"
PROJECT_VARIABLE = "AZURAFORGE_PROJECT"
PROJECT_HEADER = "AzuraForge-Project"
"""The header naming a request's project (the API's ``access.PROJECT_HEADER``)."""
"""A token given in the environment: sent instead of the one ``azuraforge login`` kept."""
CREDENTIALS = "credentials.json"
"""The file of the CLI's home that keeps each API's token (readable by its owner only)."""
DEFAULT_API_URL = "http://127.0.0.1:8000"

_ERRORS: dict[int, type[AzuraForgeError]] = {
    400: InvalidParameterError,
    401: CredentialError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidParameterError,
    422: InvalidParameterError,
    503: StoreUnavailableError,
}


ApiUrl = Annotated[
    str | None,
    typer.Option("--api-url", help="API of azuraforge serve (default http://127.0.0.1:8000)."),
]
"""The ``--api-url`` option of every command that talks to a running serve."""


def api_url(given: str | None = None) -> str:
    """``given``, else ``$AZURAFORGE_API_URL``, else ``http://127.0.0.1:8000``."""
    return (given or os.environ.get(API_URL_VARIABLE) or DEFAULT_API_URL).rstrip("/")


class ApiClient:
    """Calls ``/api/v1`` of a running ``azuraforge serve``."""

    def __init__(
        self, url: str, timeout: float = 30.0, token: str | None = None,
        project: str | None = None,
    ) -> None:  # fmt: skip
        self.url = url
        token = token or os.environ.get(TOKEN_VARIABLE) or saved_tokens().get(url)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        """What each request sends besides its own: the credential, the project."""
        if project:
            self.headers[PROJECT_HEADER] = project
        self._http = httpx.Client(base_url=f"{url}/api/v1", timeout=timeout, headers=self.headers)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer (``None`` for 204); API errors raise with the API's message."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise StoreUnavailableError(
                f"cannot reach the AzuraForge API at {self.url} ({e}); start it with "
                f"`azuraforge serve` or set {API_URL_VARIABLE}"
            ) from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:300]
            if response.status_code == 401:
                message += (
                    f"; make a token on the dashboard's Access page (or `azuraforge tokens "
                    f"create` where the server runs), then `azuraforge login --api-url {self.url}`"
                )
            raise _ERRORS.get(response.status_code, AzuraForgeError)(message)
        return None if response.status_code == 204 else response.json()

    def websocket_url(self, path: str) -> str:
        """``ws://…/api/v1{path}`` for this API."""
        return "ws" + self.url.removeprefix("http") + "/api/v1" + path


def credentials_file() -> Path:
    """Where ``azuraforge login`` keeps tokens: ``credentials.json`` in
    ``$AZURAFORGE_HOME`` (``~/.azuraforge``)."""
    return Path(os.environ.get("AZURAFORGE_HOME") or "~/.azuraforge").expanduser() / CREDENTIALS


def saved_tokens() -> dict[str, str]:
    """Each API's token that ``azuraforge login`` kept, by its URL."""
    try:
        found = json.loads(credentials_file().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(url): str(token) for url, token in found.items()}


def save_token(url: str, token: str | None) -> None:
    """Keep ``token`` for the API at ``url`` (None: forget it), in a file only its owner reads."""
    tokens = saved_tokens()
    if token is None:
        tokens.pop(url, None)
    else:
        tokens[url] = token
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    made = path.with_name(f".{path.name}.{os.getpid()}")  # whole or not at all, 0600 at once
    descriptor = os.open(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(tokens, handle, indent=1)
    os.replace(made, path)


ProjectName = Annotated[
    str | None,
    typer.Option(
        "--project", envvar=PROJECT_VARIABLE,
        help="The project to work in (default: the one of your token).",
    ),
]  # fmt: skip
"""The ``--project`` option of every command that reads or writes a project's data."""


def connect(url: str | None, project: str | None = None) -> ApiClient:
    """A client of the API at ``url`` (``--api-url``), else as :func:`api_url` finds it,
    working in ``project`` (``--project``; the API answers 404 for one that is not the
    token's)."""
    return ApiClient(api_url(url), project=project)


def shown_time(seconds: float) -> str:
    """A time the API gives (seconds since the epoch) as the local ``YYYY-mm-dd HH:MM:SS``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
