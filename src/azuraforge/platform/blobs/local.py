"""`LocalBlobs`: blobs as files below one folder, the embedded default (``home/blobs``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.blobs.base import BlobStore
from azuraforge.platform.blobs.keys import UNFINISHED_NAME

_OPEN_ATTEMPTS = 3


class LocalBlobs(BlobStore):
    """Blobs as the files ``root/<key>``: one machine's store (or a folder every machine
    mounts).

    A write goes to a hidden ``.<name>.<random>.part`` file beside its key, synced, then
    renamed over the key: atomic on one file system, so a reader sees the old file or the new
    one whole, and a crash leaves at worst a ``.part`` file that no listing shows. A
    key's path is resolved at each open and refused if it leads out of ``root`` (a symbolic
    link inside the folder pointing elsewhere). Deleting a folder's last blob removes the
    folders it leaves empty. ``root`` is made at the first write.

    Parameters
    ----------
    root
        The folder (``~`` expanded; a relative one is taken from the current folder).

    Examples
    --------
    >>> import tempfile
    >>> blobs = LocalBlobs(tempfile.mkdtemp())
    >>> blobs.put_bytes("runs/1/report.md", b"# report")
    >>> blobs.copy_prefix("runs/1", "models/m/1"), list(blobs.list_keys("models"))
    (1, ['models/m/1/report.md'])
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        """``root/key``, after checking that it resolves inside ``root`` (a path that is a
        loop of symbolic links is no file: :class:`FileNotFoundError`, as for a missing one)."""
        path = self.root / key
        try:
            resolved = path.resolve()
        except RuntimeError:  # a loop of links, before Python 3.13 (which stops resolving)
            raise FileNotFoundError(f"{path} is a loop of symbolic links") from None
        if not resolved.is_relative_to(self.root.resolve()):
            raise InvalidParameterError(
                f"blob key {key!r} leads out of {self.root} (to {resolved}, through a symbolic "
                "link); remove the link, or keep the store's files inside its folder",
                public=f"blob key {key!r} is refused: it leads out of the store",
            )
        return path

    @contextmanager
    def _writer(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        partial, out = self._open_partial(key, path)
        try:
            with out:
                yield out
                out.flush()
                os.fsync(out.fileno())
            self._replace(key, partial)
        finally:
            partial.unlink(missing_ok=True)

    def _open_partial(self, key: str, path: Path) -> tuple[Path, BinaryIO]:
        """A new ``.part`` file beside ``path``, open to write."""
        for _ in range(_OPEN_ATTEMPTS - 1):
            # NOTE: deleting a folder's last blob removes the folder; another process may do
            # so between our mkdir and open: then make it again.
            with contextlib.suppress(FileNotFoundError):
                return self._try_partial(key, path)
        return self._try_partial(key, path)

    def _try_partial(self, key: str, path: Path) -> tuple[Path, BinaryIO]:
        partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return partial, partial.open("xb")
        except (FileExistsError, NotADirectoryError):
            raise self._clash(key) from None

    def _replace(self, key: str, partial: Path) -> None:
        """Rename the complete ``partial`` over ``key``'s file (checked again: a link may
        have appeared while it was written)."""
        try:
            os.replace(partial, self._path(key))
        except IsADirectoryError:
            raise self._clash(key) from None

    def _clash(self, key: str) -> ConflictError:
        return ConflictError(
            f"blob key {key!r} cannot be written in {self.describe()}: a key is never also "
            "the prefix of other keys, and one of its prefixes is a key or it is a prefix",
            public=f"blob key {key!r} clashes with a stored file's key; choose another",
        )

    def _reader(self, key: str) -> BinaryIO | None:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def _size(self, key: str) -> int | None:
        try:
            found = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return found.st_size if stat.S_ISREG(found.st_mode) else None

    def _keys(self, prefix: str) -> Iterator[str]:
        top = self._path(prefix) if prefix else self.root
        found = [
            Path(folder, name).relative_to(self.root).as_posix()
            for folder, _, names in os.walk(top)
            for name in names
            if not UNFINISHED_NAME.match(name)
        ]
        return iter(sorted(found))

    def abort_unfinished(self, older_than: float) -> int:
        before, dropped = time.time() - older_than, 0
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder, name)
                with contextlib.suppress(FileNotFoundError):
                    if UNFINISHED_NAME.match(name) and path.stat().st_mtime < before:
                        path.unlink()
                        dropped += 1
        return dropped

    def _delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its parents below ``root`` while they are empty."""
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
