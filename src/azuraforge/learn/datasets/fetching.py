"""Fetch a dataset's files: mirrors first, then the cache, then the canonical URL.

Every file is checked against its registered SHA-256 wherever it comes from, and a file that
does not match is an error, never used. The order:

1. each folder in ``AZURAFORGE_DATA_MIRROR`` (``os.pathsep``-separated), holding the file
   directly or in any sub-folder (``shared/data`` keeps ``weather/``, ``mnist/``, ...);
2. the cache, ``$AZURAFORGE_HOME/datasets/<dataset>/`` (``~/.azuraforge`` by default);
3. a download from the file's URL into the cache: written to a temporary file, checked,
   then renamed, so the cache never holds a partial or wrong file.

A check is remembered for the life of the process (by path, size and modification time),
and beside a cached file in ``<file>.sha256``, so a second fetch does not hash again.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import secrets
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

from azuraforge.errors import ChecksumMismatchError, DatasetUnavailableError
from azuraforge.learn.datasets.registry import DataFile, DatasetSpec, get_dataset
from azuraforge.learn.home import default_home

MIRROR_VARIABLE = "AZURAFORGE_DATA_MIRROR"
_CHUNK = 1 << 20

_log = logging.getLogger(__name__)
# (resolved path, size, mtime_ns, compressed) -> SHA-256 of the (decompressed) content
_VERIFIED: dict[tuple[str, int, int, bool], str] = {}


def mirror_folders() -> list[Path]:
    """The mirror folders listed in ``AZURAFORGE_DATA_MIRROR``, in order (``~`` expanded).

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> folders = os.pathsep.join(["/data/a", "", "/data/b"])
    >>> with mock.patch.dict(os.environ, {MIRROR_VARIABLE: folders}):
    ...     [str(p) for p in mirror_folders()]
    ['/data/a', '/data/b']
    >>> with mock.patch.dict(os.environ, {MIRROR_VARIABLE: ""}):
    ...     mirror_folders()
    []
    """
    value = os.environ.get(MIRROR_VARIABLE, "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


def cache_folder() -> Path:
    """The dataset cache: ``$AZURAFORGE_HOME/datasets``, by default ``~/.azuraforge/datasets``.

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"AZURAFORGE_HOME": "/srv/azuraforge"}):
    ...     str(cache_folder())
    '/srv/azuraforge/datasets'
    """
    return default_home() / "datasets"


def fetch(
    dataset: str | DatasetSpec,
    *,
    mirrors: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> dict[str, Path]:
    """The local, checked path of every file of ``dataset``, fetching what is missing.

    Parameters
    ----------
    dataset
        A registered name (see :func:`list_datasets`) or a :class:`DatasetSpec`.
    mirrors
        Mirror folders to search (a list, or one folder); by default those of
        ``AZURAFORGE_DATA_MIRROR``.
    cache
        The cache folder; by default :func:`cache_folder`. Files go in ``<cache>/<dataset>/``.
    timeout
        Seconds a download may wait for the server before it fails.

    Returns
    -------
    dict[str, Path]
        File name -> path, in the dataset's file order. Mirror files are used where they are.

    Raises
    ------
    NotFoundError
        If ``dataset`` is a name that is not registered.
    ChecksumMismatchError
        If a file in a mirror or the cache, or a download, has another SHA-256 than the
        registered one. The message names the file, both hashes and what to do.
    DatasetUnavailableError
        If a file is in no mirror nor the cache and cannot be downloaded. The message names
        the URL, the mirror variable and every place that was tried.

    Examples
    --------
    >>> import hashlib, pathlib, tempfile
    >>> from azuraforge.learn.datasets import DataFile, DatasetSpec
    >>> with tempfile.TemporaryDirectory() as mirror, tempfile.TemporaryDirectory() as cache:
    ...     data = b"x,y\\n1,2\\n"
    ...     _ = (pathlib.Path(mirror) / "tiny.csv").write_bytes(data)
    ...     spec = DatasetSpec("tiny", "two numbers", (
    ...         DataFile("tiny.csv", "https://example.org/tiny.csv",
    ...                  hashlib.sha256(data).hexdigest()),))
    ...     paths = fetch(spec, mirrors=[mirror], cache=cache)
    ...     paths["tiny.csv"].read_text()
    'x,y\\n1,2\\n'
    """
    spec = dataset if isinstance(dataset, DatasetSpec) else get_dataset(dataset)
    if isinstance(mirrors, str | os.PathLike):
        mirrors = [mirrors]  # one folder, not a sequence of one-letter folders
    folders = mirror_folders() if mirrors is None else [Path(m).expanduser() for m in mirrors]
    target = (cache_folder() if cache is None else Path(cache).expanduser()) / spec.name
    return {f.name: _fetch_file(spec.name, f, folders, target, timeout) for f in spec.files}


def dataset_file(name: str) -> Path:
    """The file of the registered dataset ``name`` (its first, for one of several), fetched
    as :func:`fetch` fetches it.

    Raises
    ------
    NotFoundError
        If no dataset has that name.
    DatasetUnavailableError
        If the file can be had from neither a mirror, the cache nor its URL.
    """
    spec = get_dataset(name)
    return fetch(spec)[spec.files[0].name]


def _fetch_file(
    dataset: str, file: DataFile, mirrors: list[Path], folder: Path, timeout: float
) -> Path:
    found, tried = _find_in_mirrors(file.name, mirrors)
    if found is not None:
        _check(found, file, dataset, "delete or replace it in the mirror")
        return found
    cached = folder / file.name
    if cached.is_file():
        if not _marker_matches(cached, file):
            _check(cached, file, dataset, "delete it to download it again")
            _write_marker(cached, file)
        return cached
    tried.append(f"cache {cached}: not there")
    return _download(dataset, file, cached, timeout, tried)


def _find_in_mirrors(name: str, mirrors: list[Path]) -> tuple[Path | None, list[str]]:
    if not mirrors:
        return None, [f"no mirror ({MIRROR_VARIABLE} is unset or empty)"]
    tried = []
    for mirror in mirrors:
        if not mirror.is_dir():
            tried.append(f"mirror {mirror}: not a folder")
            continue
        direct = mirror / name
        if direct.is_file():
            return direct, tried
        nested = sorted(p / name for p in mirror.iterdir() if p.is_dir() and (p / name).is_file())
        if nested:
            return nested[0], tried
        tried.append(f"mirror {mirror}: no {name} in it or its sub-folders")
    return None, tried


def _check(
    path: Path, file: DataFile, dataset: str, advice: str, source: str | None = None
) -> None:
    actual = _digest(path, file.compressed)
    if actual != file.sha256:
        what = "SHA-256 of the decompressed bytes" if file.compressed else "SHA-256"
        raise ChecksumMismatchError(
            f"{file.name} of dataset {dataset!r} {source or f'at {path}'} has {what} {actual}, "
            f"expected {file.sha256}; the file was not used: {advice}"
        )


def _digest(path: Path, compressed: bool) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, compressed)
    if key not in _VERIFIED:
        _VERIFIED[key] = _sha256(path, compressed)
    return _VERIFIED[key]


def _sha256(path: Path, compressed: bool) -> str:
    try:
        if compressed:
            with gzip.open(path, "rb") as stream:
                return hashlib.file_digest(stream, "sha256").hexdigest()
        with path.open("rb") as plain:
            return hashlib.file_digest(plain, "sha256").hexdigest()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        # Not a hash, but it can never equal one: the caller reports it as a mismatch.
        return f"(none: not a complete gzip file: {e})"


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _marker_text(path: Path, file: DataFile) -> str:
    stat = path.stat()
    return f"{file.sha256} {stat.st_size} {stat.st_mtime_ns}\n"


def _marker_matches(path: Path, file: DataFile) -> bool:
    try:
        return _marker(path).read_text() == _marker_text(path, file)
    except OSError:
        return False


def _write_marker(path: Path, file: DataFile) -> None:
    try:
        _marker(path).write_text(_marker_text(path, file))
    except OSError as e:  # a read-only cache still works, it only hashes again next time
        _log.warning("cannot write %s: %s", _marker(path), e)


def _download(
    dataset: str, file: DataFile, target: Path, timeout: float, tried: list[str]
) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        tried.append(f"cache folder {target.parent}: cannot be created ({e})")
        raise _unavailable(dataset, file, "was not attempted", tried) from e
    # NOTE: a unique name in the target folder makes the final rename atomic and lets two
    # processes download the same file at once without reading each other's half.
    partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
    _log.info("downloading %s to %s", file.url, target)
    try:
        try:
            with (
                urllib.request.urlopen(file.url, timeout=timeout) as response,
                partial.open("xb") as out,
            ):
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise _unavailable(dataset, file, f"failed ({e})", tried) from e
        _check(partial, file, dataset, "nothing was cached", f"downloaded from {file.url}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _write_marker(target, file)
    return target


def _unavailable(
    dataset: str, file: DataFile, outcome: str, tried: list[str]
) -> DatasetUnavailableError:
    return DatasetUnavailableError(
        f"cannot get {file.name} of dataset {dataset!r}: the download from {file.url} "
        f"{outcome}. Tried: {'; '.join(tried)}. Put the file in a folder listed in "
        f"{MIRROR_VARIABLE} (directly or in a sub-folder), or check the network and the URL"
    )
