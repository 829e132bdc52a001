"""Request bodies written where they go as they arrive, never whole in memory: a run's
uploaded file into the blob store, a data file into its project's folder. Their size is
limited before (:class:`~azuraforge.platform.api.limits.BodyLimit`: 413 past it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Protocol

from fastapi.concurrency import run_in_threadpool

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.api.deps import invalid_path
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.jobs.run_files import run_key
from azuraforge.platform.store import JobWrites
from azuraforge.platform.store.interfaces import MlflowGroups

HANDED_BYTES = 1 << 20
"""Bytes of a body handed to its writer at once, from a worker thread."""


class Writable(Protocol):
    """What a body is written to: a file open for writing, a blob store's writer."""

    def write(self, data: bytes, /) -> int: ...


async def stream_into(
    opened: AbstractContextManager[Writable], chunks: AsyncIterator[bytes]
) -> int:
    """Write the bytes of ``chunks`` to what ``opened`` opens (a blob store's writer, all
    or nothing; ``path.open("wb")``), :data:`HANDED_BYTES` at a time in worker threads (the
    event loop never waits on a disk or an object store), and close it; how many bytes. A
    body cut short (an error, or the size limit) closes it with the error, which goes on.
    """
    out = await run_in_threadpool(opened.__enter__)
    size, held = 0, bytearray()
    try:
        async for chunk in chunks:
            held += chunk
            if len(held) >= HANDED_BYTES:
                size += await run_in_threadpool(out.write, bytes(held))
                held.clear()
        size += await run_in_threadpool(out.write, bytes(held))
    except BaseException as error:
        await run_in_threadpool(opened.__exit__, type(error), error, error.__traceback__)
        raise
    await run_in_threadpool(opened.__exit__, None, None, None)
    return size


async def upload_run_file(
    store: MlflowGroups,
    blobs: BlobStore,
    experiment_id: int,
    path: str,
    chunks: AsyncIterator[bytes],
) -> int:
    """Stream ``chunks`` into the file ``path`` of the running external run ``experiment_id``
    (replacing one there) and record it among the run's files; how many bytes. A path that is
    not a name inside the run's files is a 422 naming it; a run that is not running, a 409
    before the body is read."""
    try:
        key = run_key(experiment_id, path)
    except InvalidParameterError as e:
        raise invalid_path("path", e) from None
    await run_in_threadpool(store.write_external, experiment_id, JobWrites())
    size = await stream_into(blobs.open_writer(key), chunks)
    kept = JobWrites(artifacts=[(path, size, False)])
    await run_in_threadpool(store.write_external, experiment_id, kept)
    return size
