"""`BlobCache`: local copies of blobs that never change, for code that needs files on disk.

A registered model version, a stream's snapshot: their blobs are written once under a prefix
of their own and never again, so a copy on this machine, made on first use, stays right for
good (their digest, recorded when they were made, is checked on the copy where it is used).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.blobs.base import BlobStore
from azuraforge.platform.blobs.keys import blob_prefix


class BlobCache:
    """Copies of the blobs below prefixes, as folders below ``root`` named by their prefix
    (``root/models/weather/3f2a...``).

    A folder appears whole: the blobs are copied into a hidden folder beside it, which is
    then renamed, so a reader never sees part of one. Processes sharing ``root`` may ask for
    one prefix at once; one rename wins and the others' copies are dropped. The folder of a
    prefix is resolved at each call and refused if it leads out of ``root`` (a symbolic link
    in the cache), after :func:`~azuraforge.platform.blobs.keys.blob_prefix` checked the
    prefix itself. Nothing is evicted: a copy lives until its folder is deleted.

    Parameters
    ----------
    blobs
        The blob store the copies come from.
    root
        The folder of this machine the copies go in (made when first needed).

    Examples
    --------
    >>> import tempfile
    >>> from azuraforge.platform.blobs import LocalBlobs
    >>> blobs = LocalBlobs(tempfile.mkdtemp())
    >>> blobs.put_bytes("models/m/1/artifact.json", b"{}")
    >>> cache = BlobCache(blobs, tempfile.mkdtemp())
    >>> sorted(p.name for p in cache.folder("models/m/1").iterdir())
    ['artifact.json']
    """

    def __init__(self, blobs: BlobStore, root: str | os.PathLike[str]) -> None:
        self.blobs = blobs
        self.root = Path(root).expanduser().absolute()

    def folder(self, prefix: str) -> Path:
        """The local folder holding a copy of every blob below ``prefix`` (copied now if it
        is not there yet), each under its key less the prefix.

        Raises
        ------
        NotFoundError
            If no blob is below ``prefix``.
        InvalidParameterError
            If ``prefix`` is not a valid prefix of keys, or is ``""``, or its folder leads
            out of the cache.
        """
        target = self.path(prefix)
        if not target.is_dir():
            self._copy(blob_prefix(prefix), target)
        return target

    def path(self, prefix: str) -> Path:
        """Where the copy of ``prefix`` is (or would be), checked to be inside ``root``."""
        checked = blob_prefix(prefix)
        if not checked:
            raise InvalidParameterError("a cached folder is below a prefix, not the whole store")
        target = self.root / checked
        if not target.resolve().is_relative_to(self.root.resolve()):
            raise InvalidParameterError(
                f"the cached copy of {checked!r} leads out of {self.root} (through a symbolic "
                "link); remove the link",
                public=f"the cached copy of {checked!r} is refused: it leads out of the cache",
            )
        return target

    def _copy(self, prefix: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
        try:
            if self.blobs.get_folder(prefix, partial) == 0:
                raise NotFoundError(
                    f"no blob below {prefix!r} in {self.blobs.describe()}",
                    public=f"no stored files below {prefix!r}",
                )
            try:
                os.rename(partial, target)
            except OSError:  # another process's copy is there already: it is as good
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
