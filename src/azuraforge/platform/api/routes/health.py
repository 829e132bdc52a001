"""``/health``: whether the API can reach its store, at which schema, on which transport,
whether that transport's broker answers, whether the home folder's disk takes a write, and
whether the blob store (an object store) answers."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from fastapi import APIRouter, Request

from azuraforge import __version__
from azuraforge.errors import BlobStoreUnavailableError, TransportUnavailableError
from azuraforge.platform.api.access import PUBLIC
from azuraforge.platform.api.deps import BlobsDep, ServerStoreDep, SettingsDep, TransportDep
from azuraforge.platform.api.live_settings import applied_of
from azuraforge.platform.api.schemas.health import (
    BlobStorePublic,
    BrokerPublic,
    DiskPublic,
    HealthPublic,
)
from azuraforge.platform.api.schemas.plugins import PluginSetPublic, ReplicaDigestPublic
from azuraforge.platform.blobs import BlobStore, LocalBlobs
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.services.plugin_folder import PluginReplicas
from azuraforge.platform.store import check_schema, head_revision

router = APIRouter(tags=["health"])


@router.get("/health", dependencies=[PUBLIC], response_model=HealthPublic)
def health(
    request: Request,
    store: ServerStoreDep,
    settings: SettingsDep,
    transport: TransportDep,
    blobs: BlobsDep,
) -> HealthPublic:
    """``ok`` when the store answers at the schema this version needs (503 with the reason
    otherwise) and so does the broker, if the transport has one; ``degraded``, still 200,
    when the broker does not: this API still reads and cancels, and every instance shares the
    broker, so a load balancer that dropped them all would turn failing submissions into a
    full outage. A schema mismatch is this instance's alone (another version migrated the
    database): 503 takes it out of rotation. A home folder that cannot be written (a full
    disk) is ``degraded`` too: reads work, but runs' files, spools and an SQLite store's
    writes fail. So is a blob store that does not answer (an object store down: every file
    read or upload answers 503), which every instance shares too. The plugin set is reported,
    not judged: a replica that runs other plugin files than the rest is named in
    ``plugins.differing``. ``settings_version`` is the version of the live settings this
    process answered under."""
    store.last_event_id()  # raises StoreUnavailableError -> 503
    check_schema(store.engine)  # raises SchemaMismatchError -> 503
    broker, disk, files = _broker(transport), _disk(settings.home), _blob_store(blobs)
    healthy = (broker is None or broker.reachable) and disk.writable and files.reachable
    return HealthPublic(
        status="ok" if healthy else "degraded",
        database=store.dialect,
        schema_revision=head_revision(),
        schema_expected=head_revision(),
        transport=settings.transport,
        broker=broker,
        disk=disk,
        blob_store=files,
        plugins=_plugins(request.app.state.plugins),
        version=__version__,
        settings_version=applied_of(request.scope, request.app.state.live).version,
    )


def _plugins(replicas: PluginReplicas) -> PluginSetPublic:
    report = replicas.report()
    differing = [ReplicaDigestPublic(replica=r.replica, digest=r.digest) for r in report.differing]
    return PluginSetPublic(
        digest=report.digest, loaded=report.loaded, failed=report.failed,
        replicas=report.replicas, consistent=not differing, differing=differing,
    )  # fmt: skip


def _broker(transport: Transport) -> BrokerPublic | None:
    if transport.broker is None:
        return None
    try:
        transport.check()
    except TransportUnavailableError as e:
        return BrokerPublic(url=transport.broker, reachable=False, error=str(e))
    return BrokerPublic(url=transport.broker, reachable=True, error=None)


def _blob_store(blobs: BlobStore) -> BlobStorePublic:
    """Whether ``blobs`` answers; its URL when it is an object store (a folder's path is the
    server's own)."""
    url = None if isinstance(blobs, LocalBlobs) else blobs.url
    try:
        blobs.check()
    except BlobStoreUnavailableError as e:
        return BlobStorePublic(url=url, reachable=False, error=e.public)
    return BlobStorePublic(url=url, reachable=True, error=None)


PROBE_BYTES = 4096
"""What the disk check writes (a page: a full disk refuses it at the write)."""


def _disk(home: Path) -> DiskPublic:
    """Whether a page can be written in ``home``, made if missing (the reason, not the
    folder, if not)."""
    probe = home / f".health-{os.getpid()}"
    try:
        home.mkdir(parents=True, exist_ok=True)
        with probe.open("wb", buffering=0) as handle:
            handle.write(bytes(PROBE_BYTES))
    except OSError as e:
        reason = e.strerror or type(e).__name__
        return DiskPublic(writable=False, error=f"the home folder cannot be written: {reason}; "
                          "free space on its disk, or make it writable")  # fmt: skip
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return DiskPublic(writable=True, error=None)
