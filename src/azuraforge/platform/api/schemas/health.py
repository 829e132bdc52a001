"""The answer of ``/health`` (:mod:`~azuraforge.platform.api.routes.health`): the database,
the broker, the disk, the blob store and the plugin files this process runs with."""

from __future__ import annotations

from pydantic import BaseModel, Field

from azuraforge.platform.api.schemas.plugins import PluginSetPublic


class BrokerPublic(BaseModel):
    url: str = Field(description="The broker's URL, without its password.")
    reachable: bool
    error: str | None = Field(description="Why it cannot be reached, if it cannot.")


class DiskPublic(BaseModel):
    writable: bool = Field(description="Whether a file could be written in the home folder.")
    error: str | None = Field(description="Why it could not (a full disk), if it could not.")


class BlobStorePublic(BaseModel):
    url: str | None = Field(
        description="The object store's `s3://bucket/prefix`; null for a folder of the server."
    )
    reachable: bool = Field(description="Whether it answered (its bucket, with the credentials).")
    error: str | None = Field(description="Why it did not, if it did not (no address).")


class HealthPublic(BaseModel):
    status: str = Field(
        description="`ok`, or `degraded` when the broker cannot be reached (runs cannot be "
        "submitted; reads and cancels work), the home folder cannot be written (a full "
        "disk: runs' files, and an SQLite store's writes, fail) or the object store does not "
        "answer (every file read or upload answers 503)."
    )
    database: str
    schema_revision: str = Field(description="The database's schema revision.")
    schema_expected: str = Field(
        description="The revision this version needs; /health is 503 when they differ."
    )
    transport: str
    broker: BrokerPublic | None = Field(
        description="The Celery broker, checked on each call; null on the local transport."
    )
    disk: DiskPublic = Field(description="The home folder's disk, written to on each call.")
    blob_store: BlobStorePublic = Field(
        description="The blob store (an S3-compatible object store, or a folder), asked on "
        "each call."
    )
    plugins: PluginSetPublic = Field(
        description="The digest of the plugin files this process loaded, beside the other "
        "replicas' (each reports its own through the store)."
    )
    version: str
    settings_version: int = Field(
        description="The version of the live settings this process runs (0: none set; "
        "GET /api/v1/server/settings)."
    )
