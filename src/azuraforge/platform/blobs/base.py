"""`BlobStore`: every file the platform keeps, under keys, on a folder or an object store."""

from __future__ import annotations

import os
import secrets
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, TypeVar

from azuraforge.errors import NotFoundError
from azuraforge.platform.blobs.keys import blob_key, blob_prefix

_Found = TypeVar("_Found")

CHUNK_BYTES = 1 << 20
"""Bytes read or copied at a time: a large blob passes through memory a chunk at a time."""


HEALTH_KEY = "health/probe"
"""A key :meth:`BlobStore.check` looks up (nothing is written there)."""


class BlobStore(ABC):
    """Files under keys: what every backend keeps.

    A key (``runs/12/report.md``) is a relative path of names separated by ``/``; every
    public method checks the keys it is given with
    :func:`~azuraforge.platform.blobs.keys.blob_key` before a backend sees them (a bad one
    raises :class:`~azuraforge.errors.InvalidParameterError` naming it). A prefix
    (``runs/12``) names the keys *below* it, as a folder would: ``runs/12/report.md``, never
    ``runs/123/report.md``; ``""`` names every key. A key is never also the prefix of other
    keys (a folder store cannot hold both; an object store is not asked to).

    The contract, checked on every backend by
    :class:`~azuraforge.testing.blobs.BlobStoreContract`:

    - A write is all or nothing: nothing is visible at the key until
      :meth:`open_writer`'s block (or :meth:`put_file`, :meth:`copy`...) ends without an
      error, and then the whole blob is; a failed write leaves the key as it was (absent, or
      its previous blob). Readers never see part of a blob.
    - A large blob is never whole in memory: reads and writes go a chunk at a time (about a
      MiB; an object store's upload holds at most a few parts of 5-8 MiB).
    - A key that holds nothing raises :class:`~azuraforge.errors.NotFoundError` naming it,
      on every read (:meth:`open_reader`, :meth:`iter_chunks`, :meth:`get_bytes`,
      :meth:`get_file`, :meth:`size`, :meth:`copy`'s source). Deleting one is not an error.
    - :meth:`list_keys` gives the keys below a prefix in sorted order (by code point, the
      order of their UTF-8 bytes).
    - An error's message names the key and the store (:meth:`describe`); its ``public``
      form, which the API shows, names the key only, never a server folder or a bucket.

    Instances are safe to use from several threads; several processes (and machines, for an
    object store) may use one store at once, the last complete write of a key winning.
    """

    url: str
    """The store's URL, as :func:`~azuraforge.platform.blobs.blobs_from_url` takes it
    (``file:///srv/af/blobs``, ``s3://bucket/prefix``)."""

    def describe(self, key: str = "") -> str:
        """Where ``key`` (or the whole store) is, for the logs and messages of the user who runs
        AzuraForge: ``file:///srv/af/blobs/runs/12/report.md``. Never shown to API clients."""
        return f"{self.url.rstrip('/')}/{key}" if key else self.url

    def open_writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A binary file to write the blob at ``key`` into, as a context manager.

        The blob appears, whole, when the ``with`` block ends without an error; an error
        leaves ``key`` as it was.

        Examples
        --------
        >>> import tempfile
        >>> from azuraforge.platform.blobs import LocalBlobs
        >>> blobs = LocalBlobs(tempfile.mkdtemp())
        >>> with blobs.open_writer("runs/1/log.txt") as out:
        ...     _ = out.write(b"step 1\\n")
        ...     blobs.exists("runs/1/log.txt")
        False
        >>> blobs.get_bytes("runs/1/log.txt")
        b'step 1\\n'
        """
        return self._writer(blob_key(key))

    def open_reader(self, key: str) -> BinaryIO:
        """The blob at ``key`` as a binary file to read (and close; a ``with`` block does).
        It reads forward only on an object store: copy it with :meth:`get_file` to seek.

        Raises
        ------
        NotFoundError
            If no blob is at ``key``.
        """
        return self._found(blob_key(key), self._reader)

    def iter_chunks(self, key: str, chunk_size: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The bytes of the blob at ``key``, ``chunk_size`` at a time (for a streamed HTTP
        answer). The blob is opened at the call, so a missing one raises here, before any
        chunk is asked for.

        Raises
        ------
        NotFoundError
            If no blob is at ``key``.
        """
        return _chunks(self.open_reader(key), chunk_size)

    def get_bytes(self, key: str) -> bytes:
        """The whole blob at ``key`` (for small ones: a JSON file, a report).

        Raises
        ------
        NotFoundError
            If no blob is at ``key``.
        """
        with self.open_reader(key) as reader:
            return reader.read()

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` as the blob at ``key`` (all or nothing)."""
        with self.open_writer(key) as out:
            out.write(data)

    def put_file(self, path: str | os.PathLike[str], key: str) -> None:
        """Copy the local file ``path`` to the blob at ``key`` (all or nothing).

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        """
        self._put_file(Path(path), blob_key(key))

    def get_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Copy the blob at ``key`` to the local file ``path`` (its folder made if needed),
        replacing it all at once: a failed copy leaves ``path`` as it was.

        Raises
        ------
        NotFoundError
            If no blob is at ``key``.
        """
        key = blob_key(key)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
        try:
            self._get_file(key, partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    def put_folder(self, folder: str | os.PathLike[str], prefix: str) -> int:
        """Copy every file below the local ``folder`` to ``prefix/<its relative path>``;
        returns how many. Each file is written all or nothing, the folder as a whole is not."""
        prefix = blob_prefix(prefix)
        root = Path(folder)
        files = sorted(path for path in root.rglob("*") if path.is_file())
        for path in files:
            self.put_file(path, _joined(prefix, path.relative_to(root).as_posix()))
        return len(files)

    def get_folder(self, prefix: str, folder: str | os.PathLike[str]) -> int:
        """Copy every blob below ``prefix`` to the local ``folder``, under its key less the
        prefix; returns how many."""
        prefix = blob_prefix(prefix)
        keys = list(self._keys(prefix))
        for key in keys:
            self.get_file(key, Path(folder) / _below(prefix, key))
        return len(keys)

    def check(self) -> None:
        """Whether the store can be used now, asked once and quickly (``/health`` asks on
        each call): nothing if it can.

        Raises
        ------
        BlobStoreUnavailableError
            If it cannot, its ``public`` form saying why without an address or a folder.
        """
        self.exists(HEALTH_KEY)

    def abort_unfinished(self, older_than: float) -> int:
        """Drop the writes a killed writer left unfinished, started over ``older_than``
        seconds ago (an object store's open multipart uploads, which it keeps and bills until
        aborted; a folder's hidden ``.part`` files); how many. The reaper's duty calls it."""
        return 0

    def exists(self, key: str) -> bool:
        """Whether a blob is at ``key``."""
        return self._size(blob_key(key)) is not None

    def size(self, key: str) -> int:
        """Bytes of the blob at ``key``.

        Raises
        ------
        NotFoundError
            If no blob is at ``key``.
        """
        return self._found(blob_key(key), self._size)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """The keys below ``prefix`` (every key for ``""``), whole, in sorted order; none
        when nothing is below it."""
        return self._keys(blob_prefix(prefix))

    def delete(self, key: str) -> None:
        """Delete the blob at ``key``; nothing if there is none."""
        self._delete(blob_key(key))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob below ``prefix`` (``""``: all of them); returns how many."""
        return self._delete_below(blob_prefix(prefix))

    def copy(self, source: str, target: str) -> None:
        """Copy the blob at ``source`` to ``target`` (on the server, where the backend can),
        all or nothing; the two are independent afterwards.

        Raises
        ------
        NotFoundError
            If no blob is at ``source``.
        """
        self._copy(blob_key(source), blob_key(target))

    def copy_prefix(self, source: str, target: str) -> int:
        """Copy every blob below ``source`` to the same place below ``target`` (registering a
        model: a run's files under a new prefix); returns how many."""
        source, target = blob_prefix(source), blob_prefix(target)
        keys = list(self._keys(source))
        for key in keys:
            self.copy(key, _joined(target, _below(source, key)))
        return len(keys)

    def _found(self, key: str, look: Callable[[str], _Found | None]) -> _Found:
        """What ``look`` finds at ``key``; :class:`NotFoundError` if it finds nothing."""
        found = look(key)
        if found is None:
            raise self._missing(key)
        return found

    def _missing(self, key: str) -> NotFoundError:
        return NotFoundError(
            f"no blob {key!r} in {self.describe()}", public=f"no stored file {key!r}"
        )

    def _put_file(self, path: Path, key: str) -> None:
        """:meth:`put_file` of a checked key."""
        with path.open("rb") as source, self._writer(key) as out:
            shutil.copyfileobj(source, out, CHUNK_BYTES)

    def _get_file(self, key: str, partial: Path) -> None:
        """Write the blob at a checked key into the new file ``partial``; :class:`NotFoundError`
        if there is none."""
        with self.open_reader(key) as reader, partial.open("xb") as out:
            shutil.copyfileobj(reader, out, CHUNK_BYTES)

    def _copy(self, source: str, target: str) -> None:
        """:meth:`copy` of checked keys, through this process (a backend copies on its server
        where it can)."""
        with self._found(source, self._reader) as reader, self._writer(target) as out:
            shutil.copyfileobj(reader, out, CHUNK_BYTES)

    def _delete_below(self, prefix: str) -> int:
        keys = list(self._keys(prefix))
        for key in keys:
            self._delete(key)
        return len(keys)

    @abstractmethod
    def _writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """:meth:`open_writer` of a checked key."""

    @abstractmethod
    def _reader(self, key: str) -> BinaryIO | None:
        """An open reader of the blob at a checked key, ``None`` if there is none."""

    @abstractmethod
    def _size(self, key: str) -> int | None:
        """Bytes of the blob at a checked key, ``None`` if there is none."""

    @abstractmethod
    def _keys(self, prefix: str) -> Iterator[str]:
        """The sorted keys below a checked prefix."""

    @abstractmethod
    def _delete(self, key: str) -> None:
        """Delete the blob at a checked key, if there is one."""


def _chunks(reader: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with reader:
        while chunk := reader.read(chunk_size):
            yield chunk


def _joined(prefix: str, rest: str) -> str:
    return f"{prefix}/{rest}" if prefix else rest


def _below(prefix: str, key: str) -> str:
    """``key`` less ``prefix/``."""
    return key[len(prefix) + 1 :] if prefix else key
