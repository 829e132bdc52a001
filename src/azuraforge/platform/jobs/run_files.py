"""A job's files: written into a folder of its worker's machine while it runs, kept in the
blob store under ``runs/<id>/`` once it ended, where any API server reads them.

A pipeline writes its report, plots and model artifact into the folder its run context
names (``ctx.output_dir``: the learn and apps layers know folders, not blob stores); the
kernel copies that folder to :func:`run_prefix` when the job's code returns
(:meth:`~azuraforge.platform.jobs.context.StoreContext.keep_files`), under the same relative
names the run recorded (its artifacts, its result's ``report_path`` and ``artifact_dir``).
So ``report.md`` of run 12 is the blob ``runs/12/report.md`` whichever machine ran it.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.blobs import BlobStore, blob_key

RUNS = "runs"
"""The prefix below which every job's files are kept, each under its id."""
MAX_FILE_PATH = 1024
"""Longest path of a job's file that is looked up: no run's file has a longer one."""
MAX_NAME_BYTES = 255
"""Longest name between two slashes of a job's file (the longest file name of a folder)."""


def run_prefix(experiment_id: int) -> str:
    """The prefix of job ``experiment_id``'s files.

    >>> run_prefix(12)
    'runs/12'
    """
    return f"{RUNS}/{int(experiment_id)}"


def run_key(experiment_id: int, path: str) -> str:
    """The key of the file ``path`` of job ``experiment_id`` (``report.md``,
    ``plots/loss.png``): ``path`` checked as a name *inside* the job's files, whoever sent it.

    Raises
    ------
    InvalidParameterError
        For a path that is empty, absolute, holds a ``..`` name or a NUL, or is longer than
        any file's (:data:`MAX_FILE_PATH` characters, names of :data:`MAX_NAME_BYTES` bytes).
    NotFoundError
        For a path no kept file can have (a backslash, a control character, an empty name:
        whatever :func:`~azuraforge.platform.blobs.blob_key` refuses).

    Examples
    --------
    >>> run_key(12, "plots/loss.png")
    'runs/12/plots/loss.png'
    >>> run_key(12, "../13/report.md")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: file path '../13/report.md' leaves the run's files
    """
    names = path.split("/")
    if not path or path.startswith("/") or ".." in names or "\x00" in path:
        raise InvalidParameterError(f"file path {path[:200]!r} leaves the run's files")
    if len(path) > MAX_FILE_PATH or any(len(name.encode()) > MAX_NAME_BYTES for name in names):
        raise InvalidParameterError(
            f"file path of {len(path):,} characters: a run's files have paths of at most "
            f"{MAX_FILE_PATH:,} characters and names of at most {MAX_NAME_BYTES} bytes"
        )
    try:
        return blob_key(f"{run_prefix(experiment_id)}/{path}")
    except InvalidParameterError:
        raise NotFoundError(f"no file {path[:200]!r} among the run's files") from None


def keep_folder(
    blobs: BlobStore, folder: Path, experiment_id: int, *, leave: Collection[str] = ()
) -> int:
    """Copy every file below the local ``folder`` (but those named in ``leave``, relative to
    it) to the job's files, under its path relative to ``folder``; how many. Symbolic links
    are not followed: a job keeps its own files, never one a link names. A file written
    again replaces its earlier copy (a job run again after its worker was lost)."""
    kept = 0
    for path, relative in files_below(folder, leave):
        blobs.put_file(path, f"{run_prefix(experiment_id)}/{relative}")
        kept += 1
    return kept


def files_below(folder: Path, leave: Collection[str] = ()) -> Iterator[tuple[Path, str]]:
    """Each file below the local ``folder`` (but those named in ``leave``, relative to it)
    and its path relative to ``folder`` (``plots/loss.png``), in order; symbolic links are
    not followed: a job keeps its own files, never one a link names."""
    for top, _, names in os.walk(folder):
        for name in sorted(names):
            path = Path(top, name)
            relative = path.relative_to(folder).as_posix()
            if relative not in leave and not path.is_symlink() and path.is_file():
                yield path, relative
