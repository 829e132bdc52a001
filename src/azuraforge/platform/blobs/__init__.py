"""The blob store: every file the platform keeps (artifacts, reports, registered models,
prediction inputs and outputs, stream snapshots), under keys rather than paths, so that API
servers and workers on different machines see the same files.

One URL picks the backend, as one picks the database: a folder (the embedded default,
``home/blobs``) or an S3-compatible bucket::

    from azuraforge.platform.blobs import open_blobs

    blobs = open_blobs(settings)              # settings.blob_store, settings.s3_endpoint
    blobs.put_file(run_folder / "report.md", "runs/12/report.md")
    blobs.copy_prefix("runs/12/artifact", "models/forecaster/3")
    with blobs.open_reader("runs/12/report.md") as report:
        first = report.readline()

:class:`BlobStore`'s docstring is the contract both backends keep. :class:`BlobCache` keeps
local copies of blobs that never change (a registered model's files), for code that opens
files on disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from azuraforge.errors import InvalidParameterError, shorten
from azuraforge.platform.blobs.base import CHUNK_BYTES, BlobStore
from azuraforge.platform.blobs.cache import BlobCache
from azuraforge.platform.blobs.keys import blob_key, blob_prefix
from azuraforge.platform.blobs.local import LocalBlobs

if TYPE_CHECKING:
    from azuraforge.platform.settings import Settings

SCHEMES = ("file", "s3")
"""The URL schemes of :func:`blobs_from_url`, besides a plain folder path."""


def blobs_from_url(url: str, *, s3_endpoint: str = "") -> BlobStore:
    """The blob store at ``url``.

    Parameters
    ----------
    url
        A folder (``/srv/af/blobs``, ``~/af/blobs``, or ``file:///srv/af/blobs``) for
        :class:`LocalBlobs`; ``s3://bucket/prefix`` for
        :class:`~azuraforge.platform.blobs.s3.S3Blobs`, its credentials from boto3's chain
        (``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``...).
    s3_endpoint
        The address of an S3-compatible server for an ``s3://`` URL (``""``: AWS).

    Raises
    ------
    InvalidParameterError
        If ``url`` is empty, of another scheme, or names a file on another host.

    Examples
    --------
    >>> blobs_from_url("/srv/af/blobs").url, blobs_from_url("file:///srv/af/blobs").url
    ('file:///srv/af/blobs', 'file:///srv/af/blobs')
    >>> blobs_from_url("gs://bucket/af")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: blob store 'gs://bucket/af' is of scheme 'gs', not one of file, s3 (or a folder path)
    """  # noqa: E501
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme == "s3":
        # NOTE: imported here, so that a platform on its local folder never loads boto3.
        from azuraforge.platform.blobs.s3 import S3Blobs

        return S3Blobs(url, endpoint=s3_endpoint)
    if scheme == "file":
        return LocalBlobs(_file_path(url))
    if scheme:
        raise InvalidParameterError(
            f"blob store {shorten(url, 100, quoted=True)} is of scheme {scheme!r}, not one of "
            f"{', '.join(SCHEMES)} (or a folder path)"
        )
    if not url.strip():
        raise InvalidParameterError(
            "blob store is empty: name a folder or s3://bucket/prefix (AZURAFORGE_BLOB_STORE)"
        )
    return LocalBlobs(url)


def open_blobs(settings: Settings) -> BlobStore:
    """The blob store the settings name: ``blob_store`` (by default the folder
    ``home/blobs``), with ``s3_endpoint`` for an ``s3://`` one."""
    return blobs_from_url(settings.blob_store, s3_endpoint=settings.s3_endpoint)


def _file_path(url: str) -> str:
    """The folder of a ``file://`` URL of this machine."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidParameterError(
            f"blob store {url!r} names host {parts.netloc!r}: a file:// store is a folder of "
            "this machine (file:///srv/af/blobs); share files between machines with s3://"
        )
    return unquote(parts.path)


__all__ = [
    "CHUNK_BYTES",
    "SCHEMES",
    "BlobCache",
    "BlobStore",
    "LocalBlobs",
    "blob_key",
    "blob_prefix",
    "blobs_from_url",
    "open_blobs",
]
