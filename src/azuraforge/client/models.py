"""The model registry through the API: models, their versions registered from runs, aliases
with their history, and predictions. A version is named ``name@alias``, ``name/3`` or
``name`` (its latest version)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from azuraforge.client.session import Page, Session
from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
"""The server's MLflow artifact proxy: a file's bytes at ``ARTIFACTS/<path>``, a folder's list
at ``ARTIFACTS?path=<path>``."""
REGISTRY_FILES = "registry"
"""Where a registry version's files are in the proxy: ``registry/<model>/<version>/...``."""


class Models:
    """The registered models of the session's project. Objects are the API's JSON
    (``ModelPublic``, ``VersionPublic``, ``AliasPublic``...), as dicts."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def list(self, *, limit: int = 50, offset: int = 0) -> Page:
        """A page of models by name, each with its latest version and aliases."""
        return self.session.page("/models", {"limit": limit, "offset": offset})

    def each(self) -> Iterator[dict[str, Any]]:
        """Every model, page after page."""
        return self.session.each("/models")

    def get(self, name: str) -> dict[str, Any]:
        """One model: its latest version and where its aliases point (``NotFoundError``
        when there is none of that name)."""
        return dict(self.session.request("GET", f"/models/{name}"))

    def versions(self, name: str, *, limit: int = 50, offset: int = 0) -> Page:
        """A page of the model's versions, newest first."""
        return self.session.page(f"/models/{name}/versions", {"limit": limit, "offset": offset})

    def version(self, name: str, version: int | str) -> dict[str, Any]:
        """One version of ``name``, by number or by alias (``"champion"``: where it points;
        ``NotFoundError`` when there is none)."""
        return dict(self.session.request("GET", f"/models/{name}/versions/{version}"))

    def download(self, name: str, version: int, folder: str | Path) -> Path:
        """Copy every file of version ``version`` of ``name`` into ``folder`` (made; their
        paths below it kept), through the server's MLflow artifact proxy; the folder.
        Compare its :func:`~azuraforge.platform.services.registry.folder_digest` with the
        version's ``artifact_digest`` before trusting it."""
        target = Path(folder)
        self._download(f"{REGISTRY_FILES}/{name}/{version}", target)
        return target

    def _download(self, path: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        url = self.session.url_of(ARTIFACTS)
        listed = self.session.request("GET", url, params={"path": path})
        for entry in listed.get("files", []):
            if entry["path"] in ("", ".", "..") or "/" in entry["path"]:
                raise InvalidParameterError(f"{path} lists a file named {entry['path']!r}")
            inside = f"{path}/{entry['path']}"
            if entry["is_dir"]:
                self._download(inside, folder / entry["path"])
            else:
                self.session.save(f"{url}/{inside}", folder / entry["path"])

    def create(self, name: str, description: str = "") -> dict[str, Any]:
        """A new model without versions (``ConflictError`` when the name is taken)."""
        body = {"name": name, "description": description}
        return dict(self.session.request("POST", "/models", json=body))

    def register(self, name: str, run: int | str, description: str = "") -> dict[str, Any]:
        """Register the model of a completed ``run`` (its id or name) as the next version of
        ``name``, creating the model first when it is new; the version made.

        Raises
        ------
        NotFoundError
            When there is no such run.
        InvalidParameterError
            When the run has not completed or saved no model.
        """
        try:
            self.get(name)
        except NotFoundError:
            with suppress(ConflictError):  # made by someone else meanwhile: register into it
                self.create(name)
        body = {"experiment": run, "description": description}
        return dict(self.session.request("POST", f"/models/{name}/versions", json=body))

    def delete_version(self, name: str, version: int) -> None:
        """Delete a version with its files (``ConflictError`` while an alias points to it)."""
        self.session.request("DELETE", f"/models/{name}/versions/{version}")

    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str = ""
    ) -> dict[str, Any]:
        """Point ``alias`` of ``name`` at ``version``; the alias with its ``move`` (from,
        to, who: the token's user, why), ``None`` when it already pointed there."""
        body = {"version": version, "reason": reason}
        return dict(self.session.request("PUT", f"/models/{name}/aliases/{alias}", json=body))

    def remove_alias(self, name: str, alias: str, *, reason: str = "") -> dict[str, Any]:
        """Remove ``alias`` (recorded as a move to no version; a rollback brings it back)."""
        path = f"/models/{name}/aliases/{alias}"
        return dict(self.session.request("DELETE", path, params={"reason": reason}))

    def rollback(self, name: str, alias: str, *, reason: str = "") -> dict[str, Any]:
        """Point ``alias`` back at the version before its last move (recorded as a rollback)."""
        path = f"/models/{name}/aliases/{alias}/rollback"
        return dict(self.session.request("POST", path, json={"reason": reason}))

    def alias_history(self, name: str, alias: str, *, limit: int = 50, offset: int = 0) -> Page:
        """A page of the alias's moves, newest first."""
        path = f"/models/{name}/aliases/{alias}/history"
        return self.session.page(path, {"limit": limit, "offset": offset})

    def predict(
        self, reference: str, rows: Sequence[Mapping[str, Any]], *, horizon: int | None = None
    ) -> dict[str, Any]:
        """Predict with a registered version on raw ``rows`` (dicts of column -> value, as a
        CSV's rows); forecasters take ``horizon`` (the next N times). The answer's
        ``predictions`` holds columns of equal length; ``model`` and ``version`` say which
        version answered.

        Raises
        ------
        NotFoundError
            When ``reference`` names no version.
        InvalidParameterError
            When the rows do not fit the model (naming the row and column).
        """
        body: dict[str, Any] = {"rows": [dict(row) for row in rows]}
        if horizon is not None:
            body["horizon"] = horizon
        return dict(self.session.request("POST", f"/models/{reference}/predict", json=body))
