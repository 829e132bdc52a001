"""The bodies of ``/plugins`` (:mod:`~azuraforge.platform.api.routes.plugins`) and of
``/health``'s plugin set: the files of the plugin folder this process loaded."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PluginFilePublic(BaseModel):
    """One file of the plugin folder (its name alone: the folder is the server's)."""

    name: str
    sha256: str = Field(description="SHA-256 of the bytes read and run; empty if not read.")
    declares: list[str] = Field(description="Its plugins, as `group:name`.")
    error: str | None = Field(description="Why it did not load; null when it did.")


class PluginFilesPublic(BaseModel):
    """What this API process loaded from its plugin folder (``plugins_dir``)."""

    configured: bool = Field(description="Whether a plugin folder is set.")
    digest: str = Field(
        description="SHA-256 over the names and hashes of the files that loaded: equal on "
        "every replica that runs the same plugin files."
    )
    data: list[PluginFilePublic]


class ReplicaDigestPublic(BaseModel):
    replica: str = Field(description="An API process, `host:pid:random`.")
    digest: str


class PluginSetPublic(BaseModel):
    """This API process's plugin set beside the other live replicas'."""

    digest: str = Field(description="This process's digest of the plugin files it loaded.")
    loaded: int = Field(description="Files of the plugin folder that loaded.")
    failed: int = Field(description="Files that did not (GET /plugins says why).")
    replicas: int = Field(description="Live API processes on this store, this one included.")
    consistent: bool = Field(description="Whether every live replica runs the same files.")
    differing: list[ReplicaDigestPublic] = Field(
        description="The replicas whose digest is not the one most have: each runs other "
        "plugin files than the rest; give every replica the same folder and restart them."
    )
