"""Checkpoints of online-learning state: one file a version, written atomically, verified
on load.

A learner's or detector's ``state_dict()`` (a dict of str keys holding None, bools, ints,
floats with NaN and infinities, strings, lists, dicts, NumPy arrays and scalars of bool,
integer or float dtype) is saved as ``ckpt-000042.npz``: an uncompressed zip of a ``.npy``
member per array (``a0.npy``, ``a1.npy``, ...), a JSON member ``checkpoint.json`` with the rest
of the structure (arrays replaced by their index), the format, the version, the time written,
the step and the caller's ``meta``, and a member ``sha256`` holding the digest of the others.
Nothing is pickled, on writing or reading.

Each file is written beside its final name, flushed and synced, renamed over it and the folder
synced; only then does the small ``latest`` pointer name it (written the same way). A process
killed at any moment leaves every ``ckpt-*.npz`` whole: at worst a temporary ``.*.tmp`` file
(ignored, and deleted by the next save) or a pointer one version behind.
:meth:`CheckpointStore.load_latest` trusts no single file: it takes the newest checkpoint that
verifies and says what it passed over. File names come from version numbers only; nothing
outside the folder is opened, symbolic links included. POSIX file semantics are assumed (the
folder is synced), and one process writes a folder at a time; any number may read it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import secrets
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from azuraforge.errors import (
    DataFormatError,
    InvalidParameterError,
    NotFoundError,
    SchemaMismatchError,
    shorten,
)

FORMAT = "azuraforge.checkpoint"
FORMAT_VERSION = 1
LATEST = "latest"
"""The name of the pointer file: it holds the file name of the newest checkpoint saved."""
MAX_BYTES = 1 << 30
"""The default limit on a checkpoint's size (1 GiB): a larger state is refused."""

_NAME = re.compile(r"ckpt-(\d{6,})\.npz")
_HEADER = "checkpoint.json"
_DIGEST = "sha256"
_KINDS = "biuf"  # NumPy dtype kinds kept: bool, signed and unsigned integers, floats
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_DAY = 86_400
_POINTER_MOST = 256  # bytes of `latest` read: a longer pointer is not one this module wrote
# What reading a damaged file raises: zip, JSON, .npy and header checks alike.
_ZIP_DAMAGE = (zlib.error, zipfile.BadZipFile, zipfile.LargeZipFile)
_DAMAGE = (ValueError, KeyError, TypeError, EOFError, MemoryError, RecursionError, *_ZIP_DAMAGE)


@dataclass(frozen=True)
class Checkpoint:
    """One saved version of a state, as :class:`CheckpointStore` loads it.

    Attributes
    ----------
    version
        Its number in its folder: 1 for the first save, one more for each save after.
    time
        When it was written, in seconds since the Unix epoch (the store's clock).
    step
        What the saver passed as ``step`` (events seen, say), or None.
    meta
        What the saver passed as ``meta`` (``{}`` when nothing).
    state
        The state, equal to the one saved: the same keys, types, dtypes, shapes and bits.
    path
        The file it was read from (or written to).
    notes
        What :meth:`CheckpointStore.load_latest` passed over to reach it: a missing, stale
        or refused pointer, newer files that did not verify. Empty when the pointer named
        the newest checkpoint and it verified.
    """

    version: int
    time: float
    step: int | None
    meta: dict[str, Any]
    state: dict[str, Any]
    path: Path
    notes: tuple[str, ...] = ()


class CheckpointStore:
    """Versioned, atomic checkpoints of a state in one folder, with retention.

    Every :meth:`save` writes the next version as one file, moves the ``latest`` pointer to
    it, then deletes the versions retention lets go: all but the last ``keep_last`` and
    (with ``keep_daily``) the newest of each UTC day. The version the pointer names is never
    deleted; with ``keep_daily``, neither is a file whose time cannot be read (it is left
    for you to look at).

    One process writes a folder at a time; any number may read it while it is written.

    Parameters
    ----------
    folder
        Where the checkpoints go; created by the first save.
    keep_last
        How many of the newest versions to keep (at least 1).
    keep_daily
        Also keep the newest checkpoint of each UTC day.
    clock
        The wall clock whose time each checkpoint records (``time.time``).
    max_bytes
        The largest checkpoint file to write or read; a larger state is refused on saving,
        a larger file as damaged on loading.

    Raises
    ------
    InvalidParameterError
        If ``keep_last`` is not an integer of at least 1, or ``max_bytes`` not above 0.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> store = CheckpointStore(folder, keep_last=2)
    >>> for seen in (100, 200, 300):
    ...     saved = store.save({"weights": np.full(3, seen / 100), "n": seen}, step=seen)
    >>> store.versions()
    [2, 3]
    >>> latest = store.load_latest()
    >>> latest.version, latest.step, latest.state["n"], latest.state["weights"]
    (3, 300, 300, array([3., 3., 3.]))
    >>> latest.path.name
    'ckpt-000003.npz'
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        keep_last: int = 5,
        keep_daily: bool = True,
        clock: Callable[[], float] = time.time,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        for name, value, least in (("keep_last", keep_last, 1), ("max_bytes", max_bytes, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InvalidParameterError(
                    f"CheckpointStore: {name} must be an integer of at least {least}, "
                    f"got {value!r}"
                )
        self.folder = folder
        self.keep_last = keep_last
        self.keep_daily = keep_daily
        self.clock = clock
        self.max_bytes = max_bytes
        self._times: dict[int, float | None] = {}  # version -> time written, for retention

    @property
    def _root(self) -> Path:
        return Path(self.folder)

    def versions(self) -> list[int]:
        """The versions the folder holds a checkpoint file of, oldest first (whether or not
        each verifies; temporary files and symbolic links are not checkpoints)."""
        try:
            entries = list(os.scandir(self._root))
        except FileNotFoundError:
            return []
        return sorted(
            version
            for entry in entries
            if (version := _version_of(entry.name)) is not None
            and entry.is_file(follow_symlinks=False)
        )

    def save(
        self,
        state: dict[str, Any],
        *,
        step: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Checkpoint:
        """Write ``state`` as the next version, point ``latest`` at it, apply retention.

        Parameters
        ----------
        state
            The state to save (what ``state_dict()`` returns); it is not changed.
        step
            Where in the stream the state is (events seen, say): an integer of at least 0.
        meta
            Anything else to record with it, as ``state`` may hold.

        Returns
        -------
        Checkpoint
            The version written, holding the ``state`` and ``meta`` passed.

        Raises
        ------
        InvalidParameterError
            If the state holds something a checkpoint cannot (a tuple, a set, a key that is
            not a string, an object or text array), ``step`` is not an integer of at least 0,
            or the file would be larger than ``max_bytes``.
        """
        _check_step(step)
        encoder = _Encoder()
        meta = {} if meta is None else meta
        tree = {"state": encoder.encode_dict(state, "state")}
        tree["meta"] = encoder.encode_dict(meta, "meta")
        self._root.mkdir(parents=True, exist_ok=True)
        self._remove_temporary_files()
        pointed, _ = self._read_pointer()
        version = max([*self.versions(), pointed or 0]) + 1
        header: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": version,
        }
        header |= {"time": float(self.clock()), "step": step, **tree}
        members = self._members(header, encoder.arrays)
        path = self._path(version)
        self._write_atomically(path.name, lambda f: _write_zip(f, members))
        self._write_atomically(LATEST, lambda f: f.write(f"{path.name}\n".encode()))
        self._times[version] = header["time"]
        self._prune(version)
        return Checkpoint(version, header["time"], step, meta, state, path)

    def load(self, version: int) -> Checkpoint:
        """The checkpoint of ``version``, verified.

        Raises
        ------
        InvalidParameterError
            If ``version`` is not an integer of at least 1.
        NotFoundError
            If the folder holds no checkpoint of that version.
        DataFormatError
            If its file is damaged: not a whole zip, a checksum that does not match, a
            header or array that does not read, a version other than its name's.
        SchemaMismatchError
            If a newer AzuraForge wrote it in a format this one cannot read.
        """
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidParameterError(
                f"a checkpoint version is an integer of at least 1, got {version!r}"
            )
        path = self._path(version)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise NotFoundError(
                f"checkpoint version {version} not found in {self._root}; it holds "
                f"{_listed(self.versions())}"
            ) from None
        except OSError as e:  # ELOOP: a symbolic link, which may lead out of the folder
            raise DataFormatError(f"cannot read checkpoint {path}: {e}") from e
        with os.fdopen(fd, "rb") as f:
            return self._read(f, path, version)

    def load_latest(self) -> Checkpoint | None:
        """The newest checkpoint that verifies, or None when the folder holds none.

        The ``latest`` pointer is a hint, never trusted alone: a newer file (from a save
        stopped before it moved the pointer) is taken, and a damaged file passed over for
        the one before it. Whatever was passed over, or a pointer missing, stale or refused
        (one naming anything but a checkpoint file of this folder, such as ``../x``), is
        listed in the result's :attr:`Checkpoint.notes` and warned about.

        Raises
        ------
        DataFormatError
            If checkpoints are there but none verifies (the message lists what each had).
        NotFoundError
            If the pointer names a version but no checkpoint file is left.

        Examples
        --------
        >>> import pathlib, tempfile, warnings
        >>> store = CheckpointStore(tempfile.mkdtemp())
        >>> for n in (1, 2):
        ...     _ = store.save({"n": n})
        >>> _ = (pathlib.Path(store.folder) / "ckpt-000002.npz").write_bytes(b"half a file")
        >>> with warnings.catch_warnings(record=True):
        ...     latest = store.load_latest()
        >>> latest.version, latest.state
        (1, {'n': 1})
        >>> print(*latest.notes, sep="\\n")  # doctest: +ELLIPSIS
        /.../ckpt-000002.npz is damaged: File is not a zip file
        the pointer names version 2, which does not verify
        """
        pointed, problem = self._read_pointer()
        notes = [problem] if problem else []
        listed = self.versions()
        for version in reversed(listed):
            try:
                checkpoint = self.load(version)
            except (DataFormatError, SchemaMismatchError, NotFoundError) as e:
                notes.append(str(e))
                continue
            if pointed is not None and pointed != version:
                notes.append(_stale_pointer(pointed, version, listed))
            return _noted(checkpoint, notes)
        self._refuse_if_any_left(pointed, notes)
        return None

    def _refuse_if_any_left(self, pointed: int | None, notes: list[str]) -> None:
        """Raise, saying what was found wrong, unless the folder holds no checkpoint."""
        if notes and self.versions():
            raise DataFormatError(
                f"no checkpoint in {self._root} verifies: {'; '.join(notes)}; restore the "
                "folder from a backup or start from a fresh state in another folder"
            )
        if pointed is not None:
            raise NotFoundError(
                f"{self._root / LATEST} names version {pointed}, but the folder holds no "
                "checkpoint file: they were deleted or moved"
            )

    def _path(self, version: int) -> Path:
        return self._root / f"ckpt-{version:06d}.npz"

    def _read_pointer(self) -> tuple[int | None, str | None]:
        """The version ``latest`` names, or None and why (None when there is no folder)."""
        path = self._root / LATEST
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                text = f.read(_POINTER_MOST).decode("ascii", errors="replace").strip()
        except FileNotFoundError:
            return None, f"no pointer {path}" if self._root.is_dir() else None
        except OSError as e:  # a symbolic link, a folder, a disk error
            return None, f"cannot read the pointer {path}: {e}"
        version = _version_of(text)
        if version is None:
            named = shorten(text, 80, quoted=True)
            return None, f"refused the pointer {path}: it names {named}, not a checkpoint file"
        return version, None

    def _members(self, header: dict[str, Any], arrays: list[np.ndarray]) -> dict[str, bytes]:
        """The zip members of a checkpoint: header, arrays and their digest, size checked."""
        try:
            members = {_HEADER: json.dumps(header, allow_nan=False).encode()}
        except ValueError as e:  # an int of more than 4,300 digits, a NaN time
            raise InvalidParameterError(f"cannot checkpoint this state: {e}") from e
        for index, array in enumerate(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            members[f"a{index}.npy"] = buffer.getvalue()
        size = sum(len(data) for data in members.values())
        if size > self.max_bytes:
            raise InvalidParameterError(
                f"refusing to save a state of {size:,} bytes: more than max_bytes="
                f"{self.max_bytes:,}; save less, or raise max_bytes if that is really meant"
            )
        members[_DIGEST] = _digest(members).encode()
        return members

    def _write_atomically(self, name: str, write: Callable[[IO[bytes]], object]) -> None:
        """Write ``name`` in the folder whole or not at all, and durably."""
        # NOTE: created with mode 0o666 for the umask to narrow, as any file the user writes.
        temporary = self._root / f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self._root / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _sync_folder(self._root)

    def _remove_temporary_files(self) -> None:
        """Delete what a writer killed mid-save left (only this store's kind of name)."""
        for entry in os.scandir(self._root):
            if _is_temporary(entry.name):
                Path(entry.path).unlink(missing_ok=True)

    def _read(self, f: IO[bytes], path: Path, version: int) -> Checkpoint:
        try:
            header, arrays = _read_members(f, self.max_bytes)
            _check_header(header, version)
            state, meta = (_decode_dict(header[part], arrays, part) for part in ("state", "meta"))
        except SchemaMismatchError as e:
            raise SchemaMismatchError(f"{path} {e}") from e
        except _DAMAGE as e:
            raise DataFormatError(f"{path} is damaged: {e}") from e
        except OSError as e:
            raise DataFormatError(f"cannot read checkpoint {path}: {e}") from e
        self._times[version] = header["time"]
        return Checkpoint(version, header["time"], header["step"], meta, state, path)

    def _prune(self, latest: int) -> None:
        """Delete what retention lets go, never ``latest``."""
        listed = self.versions()
        keep = {latest, *listed[-self.keep_last :]}
        if self.keep_daily:
            keep |= self._newest_of_each_day(listed)
        for version in set(listed) - keep:
            self._path(version).unlink(missing_ok=True)
            self._times.pop(version, None)

    def _newest_of_each_day(self, listed: list[int]) -> set[int]:
        """The newest of ``listed`` (oldest first) of each UTC day, and those undated."""
        newest: dict[int, int] = {}
        undated = set()
        for version in listed:
            written = self._time_written(version)
            if written is None:
                undated.add(version)
            else:
                newest[int(written // _DAY)] = version
        return undated | set(newest.values())

    def _time_written(self, version: int) -> float | None:
        """The time in a checkpoint's header (read once a store), None if it cannot be read."""
        if version not in self._times:
            try:
                with zipfile.ZipFile(self._path(version)) as archive:
                    written = _loads(archive.read(_HEADER))["time"]
                self._times[version] = written if type(written) is float else None
            except (OSError, *_DAMAGE):
                self._times[version] = None
        return self._times[version]


class _Encoder:
    """A state as JSON values, its arrays set aside in :attr:`arrays` and named by index.

    A dict is ``{"dict": {...}}``, an array ``{"array": i}``, a NumPy scalar ``{"scalar": i}``
    (a 0-d array), a NaN or infinity ``{"float": "nan"}``; lists and other values as they are.
    """

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []

    def encode_dict(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidParameterError(
                f"{where} must be a dict of str keys, got a {type(value).__name__}"
            )
        encoded = {_key(k, where): self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}
        return {"dict": encoded}

    def encode(self, value: Any, where: str) -> Any:
        if isinstance(value, dict):
            return self.encode_dict(value, where)
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, np.ndarray | np.generic):
            return {
                "array" if isinstance(value, np.ndarray) else "scalar": self._add(value, where)
            }
        if isinstance(value, float) and not math.isfinite(value):
            return {"float": repr(value)}  # 'nan', 'inf' or '-inf'
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise InvalidParameterError(
            f"cannot checkpoint {where}: it is a {type(value).__name__}; a state holds None, "
            "bools, ints, floats, strings, lists, dicts and NumPy arrays (a tuple or set "
            "would come back as a list: convert it first)"
        )

    def _add(self, value: np.ndarray | np.generic, where: str) -> int:
        array = np.asarray(value)
        if array.dtype.kind not in _KINDS or array.dtype.names is not None:
            raise InvalidParameterError(
                f"cannot checkpoint {where}: an array of dtype {array.dtype}; arrays must hold "
                "bools, integers or floats"
            )
        self.arrays.append(array)
        return len(self.arrays) - 1


def _key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise InvalidParameterError(
            f"cannot checkpoint {where}: its key {key!r} is a {type(key).__name__}, keys are "
            "strings"
        )
    return key


def _decode(value: Any, arrays: list[np.ndarray]) -> Any:
    """The value :meth:`_Encoder.encode` made ``value`` of; ValueError if it made no such."""
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    tag, inner = next(iter(value.items())) if len(value) == 1 else (None, None)
    return _decode_tagged(tag, inner, value, arrays)


def _decode_tagged(tag: Any, inner: Any, value: dict[str, Any], arrays: list[np.ndarray]) -> Any:
    """The value that ``value``, a one-key dict ``{tag: inner}`` of :meth:`_Encoder.encode`,
    stands for (a dict, a NaN or infinity, an array or a NumPy scalar); ValueError for any
    other dict."""
    if tag == "dict" and isinstance(inner, dict):
        return {k: _decode(v, arrays) for k, v in inner.items()}
    if tag == "float" and inner in _NON_FINITE:
        return _NON_FINITE[inner]
    if tag in ("array", "scalar") and type(inner) is int and 0 <= inner < len(arrays):
        return arrays[inner] if tag == "array" else arrays[inner][()]
    raise ValueError(f"its header holds {shorten(json.dumps(value), 80)}, not a state value")


def _decode_dict(value: Any, arrays: list[np.ndarray], part: str) -> dict[str, Any]:
    decoded = _decode(value, arrays)
    if not isinstance(decoded, dict):
        raise ValueError(f"its {part} is not a dict")
    return decoded


def _read_members(f: IO[bytes], max_bytes: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The header and arrays of an open checkpoint file, after checking its digest."""
    with zipfile.ZipFile(f) as archive:
        infos = archive.infolist()
        _check_listing(infos, max_bytes)
        members = {info.filename: archive.read(info) for info in infos}
    digest = members.pop(_DIGEST).decode("ascii", errors="replace")
    if digest != _digest(members):
        raise ValueError(f"its {_DIGEST} does not match its content (the file changed)")
    count = len(members) - 1
    arrays = [_array(members[f"a{index}.npy"], index) for index in range(count)]
    header = _loads(members[_HEADER])
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    return header, arrays


def _check_listing(infos: list[zipfile.ZipInfo], max_bytes: int) -> None:
    names = [info.filename for info in infos]
    wanted = {_HEADER, _DIGEST, *(f"a{index}.npy" for index in range(len(names) - 2))}
    if len(names) != len(wanted) or set(names) != wanted:
        raise ValueError(f"it holds members {shorten(repr(names), 120)}, not a checkpoint's")
    size = sum(info.file_size for info in infos)
    if size > max_bytes or any(info.compress_type != zipfile.ZIP_STORED for info in infos):
        raise ValueError(
            f"it unpacks to {size:,} bytes (compressed or more than max_bytes={max_bytes:,})"
        )


def _array(data: bytes, index: int) -> np.ndarray:
    array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    if array.dtype.kind not in _KINDS or array.dtype.names is not None:
        raise ValueError(f"array a{index} holds {array.dtype}, not bools, integers or floats")
    return array


def _check_header(header: dict[str, Any], version: int) -> None:
    """Raise unless ``header`` is the header of checkpoint ``version`` in a known format."""
    format_version = header.get("format_version")
    if header.get("format") != FORMAT or type(format_version) is not int or format_version < 1:
        raise ValueError(f"its header is not an {FORMAT!r} header")
    if format_version > FORMAT_VERSION:
        raise SchemaMismatchError(
            f"has {FORMAT} version {format_version}; this AzuraForge reads up to version "
            f"{FORMAT_VERSION}: upgrade azuraforge"
        )
    if header.get("version") != version:
        raise ValueError(f"it holds version {header.get('version')!r}, not its name's {version}")
    written = header.get("time")
    if type(written) is not float or not _is_step(header.get("step")):
        raise ValueError("its header's time or step is not a number")


def _loads(data: bytes) -> Any:
    """JSON as this module writes it: standard, so without NaN or Infinity."""
    return json.loads(data, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"its header holds {name}, which a checkpoint header never does")


def _digest(members: dict[str, bytes]) -> str:
    """The SHA-256 of the members by name, each framed by its name and length."""
    digest = hashlib.sha256()
    for name in sorted(members):
        digest.update(f"{name}\0{len(members[name])}\0".encode())
        digest.update(members[name])
    return digest.hexdigest()


def _write_zip(f: IO[bytes], members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _sync_folder(folder: Path) -> None:
    """Make the folder's latest renames durable (POSIX: a rename lives in the folder)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _version_of(name: str) -> int | None:
    """The version a checkpoint file name holds; None for any other name."""
    match = _NAME.fullmatch(name)
    if match is None or match.group(1) != f"{int(match.group(1)):06d}":
        return None  # one name a version: 'ckpt-0000042.npz' is not version 42's
    return int(match.group(1))


def _is_temporary(name: str) -> bool:
    return name.endswith(".tmp") and name.startswith((".ckpt-", f".{LATEST}."))


def _is_step(step: Any) -> bool:
    return step is None or (type(step) is int and step >= 0)


def _check_step(step: Any) -> None:
    if not _is_step(step):
        raise InvalidParameterError(
            f"step must be an integer of at least 0 (events seen, say) or None, got {step!r}"
        )


def _stale_pointer(pointed: int, version: int, listed: list[int]) -> str:
    if pointed < version:
        return (
            f"the pointer names version {pointed}, but version {version} was written after it "
            "(a save stopped before moving the pointer)"
        )
    if pointed not in listed:
        return f"the pointer names version {pointed}, whose file is missing"
    return f"the pointer names version {pointed}, which does not verify"


def _listed(versions: list[int]) -> str:
    if not versions:
        return "no checkpoint"
    return "versions " + shorten(", ".join(map(str, versions)), 80)


def _noted(checkpoint: Checkpoint, notes: list[str]) -> Checkpoint:
    """``checkpoint`` with ``notes``, which are also warned about."""
    if not notes:
        return checkpoint
    warnings.warn(
        f"loaded checkpoint version {checkpoint.version} of {checkpoint.path.parent}: "
        + "; ".join(notes),
        stacklevel=3,
    )
    return replace(checkpoint, notes=tuple(notes))
