"""``azuraforge blobs``: the platform's files, from one blob store to another."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from azuraforge.cli.common import Verbose, console, settings_with, user_errors
from azuraforge.errors import AzuraForgeError, BlobStoreUnavailableError, NotFoundError

if TYPE_CHECKING:
    from azuraforge.platform.blobs import BlobStore
    from azuraforge.platform.blobs.transfer import Copied

app = typer.Typer(help="The platform's files (the blob store).", no_args_is_help=True)


@app.command()
def copy(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The store to copy into: s3://bucket/prefix (an object store every server "
            "and worker shares), or a folder.",
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option(
            "--from", help="The store to copy from (default: blob_store, as home/blobs)."
        ),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--s3-endpoint",
            help="The S3-compatible server of an s3:// store (default: s3_endpoint; none: "
            "AWS). Its credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Copy every file of a blob store into another (a home's into the object store of a
    cluster, before pointing blob_store at it). Run it again after a failure: a file the
    target holds already, at its key and of its size, is not copied again."""
    with user_errors(verbose):
        from azuraforge.platform.blobs import blobs_from_url
        from azuraforge.platform.blobs.transfer import copy_blobs

        settings = settings_with(s3_endpoint=endpoint)
        origin = blobs_from_url(source or settings.blob_store, s3_endpoint=settings.s3_endpoint)
        target = blobs_from_url(to, s3_endpoint=settings.s3_endpoint)
        check_origin(origin)
        try:
            with copy_progress(f"copying {origin.url} to {target.url}") as progress:
                copied = copy_blobs(origin, target, progress=progress)
        except OSError as e:
            if isinstance(e, AzuraForgeError):  # already says what failed
                raise
            raise BlobStoreUnavailableError(failed_copy(e, origin, target)) from e
        say_copied(copied, f"copied into {target.url}")


def check_origin(origin: BlobStore) -> None:
    """Refuse a folder origin that is not a folder: a mistyped ``--from`` would otherwise
    copy "0 files" and say nothing was wrong."""
    root = getattr(origin, "root", None)
    if root is not None and not Path(root).is_dir():
        raise NotFoundError(
            f"nothing to copy from {origin.url}: no folder there (--from takes a blob store's "
            "folder or s3://bucket/prefix)"
        )


def failed_copy(error: OSError, origin: BlobStore, target: BlobStore) -> str:
    """What a file system's error in a copy means: the store it hit (the origin when the
    file is one of its folder's, else the target), why, and the file.

    >>> from azuraforge.platform.blobs import LocalBlobs
    >>> failed_copy(FileNotFoundError(2, "No such file or directory", "/proc/nope"),
    ...             LocalBlobs("/srv/af/blobs"), LocalBlobs("/proc/nope"))
    "cannot write into file:///proc/nope: No such file or directory ('/proc/nope')"
    """
    root = getattr(origin, "root", None)
    named = error.filename
    reading = bool(named and root and Path(os.fsdecode(named)).is_relative_to(root))
    where = f"read from {origin.url}" if reading else f"write into {target.url}"
    shown = f" ({os.fsdecode(named)!r})" if named else ""
    return f"cannot {where}: {error.strerror or error}{shown}"


@contextmanager
def copy_progress(title: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress callback of a copy (``(done, total, key)``) shown as one line that the
    next replaces, under ``title``; gone when the block ends."""
    with console.status(escape(title)) as status:

        def progress(done: int, total: int, key: str) -> None:
            status.update(f"{escape(title)}: {escape(key)} ({done:,} of {total:,})")

        yield progress


def say_copied(copied: Copied, where: str) -> None:
    """One line saying what a copy did."""
    console.print(f"{escape(where)}: {escape(copied.describe())}", highlight=False, soft_wrap=True)
