"""Copying blobs from one store to another: a home's folder into an object store, and back.

:func:`copy_blobs` is what ``azuraforge blobs copy`` and ``azuraforge db upgrade`` (a home's
files from before the blob store) run. It may be run again: a blob the target holds already,
at the same key and of the same size, is left as it is, so a copy cut short goes on where it
stopped.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.blobs.base import CHUNK_BYTES, BlobStore
from azuraforge.platform.blobs.keys import blob_prefix

Progress = Callable[[int, int, str], None]
"""Told ``(done, total, key)`` after each blob: how many of the blobs to copy are done."""


@dataclass
class Copied:
    """What a copy did: blobs copied, blobs the target held already (same key and size), and
    the source's keys it refused (a folder's file whose name no key may have, or a link
    leading out of it), each with why."""

    copied: int = 0
    kept: int = 0
    refused: list[str] = field(default_factory=list)

    def add(self, other: Copied) -> None:
        """Count ``other``'s blobs too."""
        self.copied += other.copied
        self.kept += other.kept
        self.refused += other.refused

    def describe(self) -> str:
        """One line for a person.

        >>> Copied(3, 1, ["runs/2/a\\\\b: a backslash"]).describe()
        '3 files copied, 1 already there, 1 refused (runs/2/a\\\\b: a backslash)'
        """
        refused = f", {len(self.refused)} refused ({'; '.join(self.refused[:3])})"
        return f"{self.copied} files copied, {self.kept} already there" + (
            refused if self.refused else ""
        )


def copy_blobs(
    source: BlobStore,
    target: BlobStore,
    *,
    prefix: str = "",
    to: str | None = None,
    progress: Progress | None = None,
) -> Copied:
    """Copy every blob below ``prefix`` of ``source`` to ``target``, below ``to`` (by default
    the same prefix), a chunk at a time, each all or nothing; a blob ``target`` holds already
    at its key with the same size is not copied again.

    Examples
    --------
    >>> import tempfile
    >>> from azuraforge.platform.blobs import LocalBlobs
    >>> home, bucket = LocalBlobs(tempfile.mkdtemp()), LocalBlobs(tempfile.mkdtemp())
    >>> home.put_bytes("runs/1/report.md", b"# report")
    >>> copy_blobs(home, bucket).describe(), copy_blobs(home, bucket).describe()
    ('1 files copied, 0 already there', '0 files copied, 1 already there')
    """
    prefix = blob_prefix(prefix)
    to = prefix if to is None else blob_prefix(to)
    keys = list(source.list_keys(prefix))
    done = Copied()
    for number, key in enumerate(keys, start=1):
        copied = _copy_one(source, key, target, _moved(key, prefix, to))
        done.add(copied)
        if progress is not None:
            progress(number, len(keys), key)
    return done


def _moved(key: str, prefix: str, to: str) -> str:
    """``key``, below ``prefix``, moved below ``to``."""
    rest = key[len(prefix) + 1 :] if prefix else key
    return f"{to}/{rest}" if to else rest


def _copy_one(source: BlobStore, key: str, target: BlobStore, to: str) -> Copied:
    try:
        size = source.size(key)
        if target.exists(to) and target.size(to) == size:
            return Copied(kept=1)
        with source.open_reader(key) as reader, target.open_writer(to) as out:
            shutil.copyfileobj(reader, out, CHUNK_BYTES)
    except InvalidParameterError as e:  # a name no key may have, a link out of its folder
        return Copied(refused=[f"{key}: {e.public}"])
    return Copied(copied=1)
