"""The files of the project's data folder through the API: upload a CSV (checked by the
server's CSV reader before it is kept), list them with their columns, rows and checksum,
delete one that nothing names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from azuraforge.client.session import Session


class DataFiles:
    """The data files of the session's project, named relative to its data folder
    (``sales.csv``, ``shops/paris.csv``): what a pipeline's ``csv`` or a stream's
    ``source`` names. Objects are the API's JSON (``DataFilePublic``), as dicts."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upload(
        self, file: str | os.PathLike[str], *, name: str | None = None, overwrite: bool = False
    ) -> dict[str, Any]:
        """Upload the local CSV ``file`` (streamed) as ``name`` (by default its own file
        name) in the project's data folder; the file as the server read it (its columns,
        rows, SHA-256).

        Raises
        ------
        InvalidParameterError
            If the server's CSV reader refuses the file (its message, naming the file), the
            name is not a data file's (``..``, a hidden name, not ``.csv``), or the file is
            over the server's ``max_upload_bytes``.
        ConflictError
            If the project has a file of that name and ``overwrite`` is false.
        """
        target = name or Path(file).name
        with open(file, "rb") as content:
            answer = self.session.request(
                "PUT", f"/data/{quote(target)}", content=content,
                params={"overwrite": "true"} if overwrite else None,
                headers={"Content-Type": "text/csv"},
            )  # fmt: skip
        return dict(answer)

    def list(self) -> list[dict[str, Any]]:
        """Every CSV file of the project's data folder, by name."""
        return [dict(file) for file in self.session.request("GET", "/data")]

    def get(self, name: str) -> dict[str, Any]:
        """The file ``name`` as the server reads it (:class:`NotFoundError` if none)."""
        return dict(self.session.request("GET", f"/data/{quote(name)}"))

    def delete(self, name: str) -> None:
        """Delete the file ``name`` of the project's data folder.

        Raises
        ------
        ConflictError
            If runs, streams or registered model versions name it (the message names them):
            delete those first.
        """
        self.session.request("DELETE", f"/data/{quote(name)}")
