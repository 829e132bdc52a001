"""Where a client finds its API, its token and its project: arguments first, then the
environment (``AZURAFORGE_API_URL``, ``AZURAFORGE_TOKEN``, ``AZURAFORGE_PROJECT``), then the
tokens ``azuraforge login`` kept in ``$AZURAFORGE_HOME/credentials.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

API_URL_VARIABLE = "AZURAFORGE_API_URL"
"""The API's URL when none is given."""
TOKEN_VARIABLE = "AZURAFORGE_TOKEN"
"""A token given in the environment: sent instead of the one ``azuraforge login`` kept."""
PROJECT_VARIABLE = "AZURAFORGE_PROJECT"
"""The project to work in when none is given (else the token's own)."""
HOME_VARIABLE = "AZURAFORGE_HOME"
"""The folder of ``credentials.json`` (``~/.azuraforge`` when unset)."""
CREDENTIALS = "credentials.json"
"""The file of the home that keeps each API's token (readable by its owner only)."""
DEFAULT_API_URL = "http://127.0.0.1:8000"
"""Where ``azuraforge serve`` answers unless told otherwise."""


def api_url(given: str | None = None) -> str:
    """``given``, else ``$AZURAFORGE_API_URL``, else ``http://127.0.0.1:8000``; without a
    trailing slash.

    >>> api_url("http://af.lan:8000/")
    'http://af.lan:8000'
    """
    return (given or os.environ.get(API_URL_VARIABLE) or DEFAULT_API_URL).rstrip("/")


def token_for(url: str) -> str | None:
    """The token to send to the API at ``url``: ``$AZURAFORGE_TOKEN``, else the one
    ``azuraforge login`` kept for that URL, else ``None``."""
    return os.environ.get(TOKEN_VARIABLE) or saved_tokens().get(url)


def project_name(given: str | None = None) -> str | None:
    """``given``, else ``$AZURAFORGE_PROJECT``, else ``None`` (the token's project)."""
    return given or os.environ.get(PROJECT_VARIABLE) or None


def credentials_file() -> Path:
    """Where ``azuraforge login`` keeps tokens: ``credentials.json`` in
    ``$AZURAFORGE_HOME`` (``~/.azuraforge``)."""
    return Path(os.environ.get(HOME_VARIABLE) or "~/.azuraforge").expanduser() / CREDENTIALS


def saved_tokens() -> dict[str, str]:
    """Each API's token that ``azuraforge login`` kept, by its URL (empty when the file is
    missing or unreadable)."""
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
