"""A job's files: written into a folder of its worker's machine while it runs, kept in the
blob store under ``runs/<id>/`` once it ended, where any API server reads them.

A pipeline writes its report, plots and model artifact into the folder its run context
names (``ctx.output_dir``: the learn and apps layers know folders, not blob stores); the
kernel copies that folder to :func:`run_prefix` when the job's code returns
(:meth:`~azuraforge.platform.jobs.context.StoreContext.keep_files`), under the same relative
names the run recorded (its artifacts, its result's ``report_path`` and ``artifact_dir``).
So ``report.md`` of run 12 is the blob ``runs/12/report.md`` whichever machine ran it.

A job whose files the blob store could not take (down at its end) fails, its folder kept on
its worker's machine with a :data:`LEFT_MARK` in it: each worker of that machine copies such
folders again when the store answers (:func:`keep_left_files`), then deletes them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from azuraforge.errors import BlobStoreUnavailableError, InvalidParameterError, NotFoundError
from azuraforge.platform.blobs import BlobStore, blob_key
from azuraforge.platform.store import ArtifactRecord

_log = logging.getLogger(__name__)
RUNS = "runs"
"""The prefix below which every job's files are kept, each under its id."""
MAX_FILE_PATH = 1024
"""Longest path of a job's file that is looked up: no run's file has a longer one."""
MAX_NAME_BYTES = 255
"""Longest name between two slashes of a job's file (the longest file name of a folder)."""
LEFT_MARK = ".left-for-the-blob-store"
"""The file that marks a job's folder whose files the blob store could not take at its end:
kept until :func:`keep_left_files` copies them."""
FILES_LEFT_ON = "files_left_on"
"""The key of a job's result naming the machine whose folder kept its files when its end
could not copy them to the blob store: until they are copied, only what the store holds of
them is listed."""


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


def leave_folder(folder: Path) -> None:
    """Mark ``folder`` (a job's, whose files the blob store could not take) to be kept until
    :func:`keep_left_files` copies them."""
    (folder / LEFT_MARK).touch()


def left_folders(work_dir: Path) -> list[Path]:
    """The job folders of ``work_dir`` whose files wait for the blob store, in order."""
    return sorted(mark.parent for mark in work_dir.glob(f"*/{LEFT_MARK}"))


def keep_left_files(work_dir: Path, blobs: BlobStore, *, leave: Collection[str] = ()) -> list[int]:
    """Copy to ``blobs`` the files of each job folder of ``work_dir`` left by an end that
    could not (:func:`leave_folder`), then delete the folder; the ids of the jobs whose files
    are now kept. A store still down leaves the folders for the next call; of several
    workers of one machine, the one that claimed a folder (renamed its mark) copies it."""
    kept = []
    for folder in left_folders(work_dir):
        mark = folder / LEFT_MARK
        claimed = mark.with_name(f"{LEFT_MARK}.{os.getpid()}")
        try:
            mark.rename(claimed)
        except OSError:  # another worker of this machine claimed it
            continue
        try:
            keep_folder(blobs, folder, int(folder.name), leave=[*leave, claimed.name])
        except (BlobStoreUnavailableError, ValueError) as e:
            with contextlib.suppress(OSError):
                claimed.rename(mark)
            _log.warning("the files of job %s are still kept in %s: %s", folder.name, folder, e)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        _log.info("the files of job %s, left in %s, are now kept in %s",
                  folder.name, folder, blobs.describe())  # fmt: skip
        kept.append(int(folder.name))
    return kept


def drop_ended_folders(work_dir: Path, ended: Callable[[int], bool]) -> list[int]:
    """Delete each job folder of ``work_dir`` whose job ``ended`` (its id: ended, or
    deleted) but for those whose files wait for the blob store (:func:`leave_folder`): what
    a job whose worker died under it left (its end, which deletes it, never ran); their ids.
    """
    dropped = []
    for folder in sorted(work_dir.iterdir()) if work_dir.is_dir() else []:
        if not folder.name.isdigit() or (folder / LEFT_MARK).exists():
            continue
        if ended(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
            _log.info("deleted the folder job %s left in %s", folder.name, work_dir)
            dropped.append(int(folder.name))
    return dropped


def files_left_on(result: dict[str, Any] | None) -> str | None:
    """The machine whose folder kept a job's files when its end could not copy them to the
    blob store (its ``result``'s :data:`FILES_LEFT_ON`), or None when they were kept."""
    return None if result is None else result.get(FILES_LEFT_ON)


def stored_artifacts(
    blobs: BlobStore,
    experiment_id: int,
    result: dict[str, Any] | None,
    artifacts: Sequence[ArtifactRecord],
) -> list[ArtifactRecord]:
    """Those of a job's recorded ``artifacts`` the blob store holds (a file, or a folder with
    a file below it): all of them unless its end could not copy its files
    (:func:`files_left_on`); then, while the store cannot be read, none."""
    if files_left_on(result) is None:
        return list(artifacts)
    prefix = run_prefix(experiment_id)
    try:
        held = {key.removeprefix(f"{prefix}/") for key in blobs.list_keys(prefix)}
    except BlobStoreUnavailableError:
        return []
    return [a for a in artifacts if _held(a.path, held)]


def _held(path: str, held: set[str]) -> bool:
    return path in held or any(key.startswith(f"{path}/") for key in held)
