"""Who the client is to the API: the user, project and role its credential stands for, and
the projects it may work in."""

from __future__ import annotations

from typing import Any

from azuraforge.client.session import Session


class Access:
    """The session's credential as the API sees it."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def me(self) -> dict[str, Any]:
        """``{"user", "project", "role"}`` of the credential sent (``CredentialError`` for
        none, or one the API refuses)."""
        return dict(self.session.request("GET", "/auth/me"))

    def projects(self) -> list[dict[str, Any]]:
        """The projects the credential's user may work in, with their role in each
        (``active``: the one the requests work in)."""
        return list(self.session.request("GET", "/auth/projects"))
