"""A project's own data files: uploaded, checked on arrival, kept in the blob store, listed
with their columns, rows and checksum, downloaded, replaced, and deleted unless something
names them.

A file is named as jobs name it, relative to the project's data folder (``sales.csv``,
``shops/paris.csv``; :class:`~azuraforge.platform.jobs.files.DataFolder`), so an uploaded
file is at once a pipeline's ``csv`` or a stream's ``source``. An upload is written to a
hidden temporary file of this machine's data folder, checked, then stored
(:class:`~azuraforge.platform.jobs.files.StoredData`: its bytes in the blob store under their
SHA-256, its name pointing at them in the store, with its description), so every API process
and worker of the store sees it: a file that does not read is refused with the reader's
message, naming the file as it was sent, and nothing is kept. The check reads the file in
bounded memory, whatever its size (:func:`describe`): its head (:data:`HEAD_BYTES`) by the CSV
reader (:func:`~azuraforge.learn.datasets.read_csv`: UTF-8, a delimiter found, a header and at
least one row of as many fields), then every line streamed, each row counted and its width and
encoding checked as the reader checks them. Files put in the data folder by hand are listed
too, unless a stored file has their name. A file that a job (a run of any kind, a stream) or
a registered version names is not deleted (:class:`~azuraforge.errors.ConflictError` naming
them).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import errno
import hashlib
import io
import os
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from azuraforge.apps.registry import discover, get_pipeline
from azuraforge.errors import (
    AzuraForgeError,
    ConflictError,
    DataFormatError,
    DiskFullError,
    InvalidParameterError,
    NotFoundError,
    shorten,
)
from azuraforge.learn.datasets import DATASETS
from azuraforge.learn.datasets.csvfiles import DELIMITERS, CsvTable, listing, read_csv, utf8_text
from azuraforge.platform.blobs.transfer import Copied
from azuraforge.platform.jobs.files import DataFolder, file_settings
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.store import DataFileRecord, DataFileUses, interfaces

SUFFIX = ".csv"
"""The only files a data folder takes and lists."""
PARTIAL = ".upload-"
"""How an upload's temporary file begins (hidden: never listed, never a name to send)."""
UPLOADS = ".uploads"
"""The hidden folder of a data folder where uploads are written before they are stored."""
MOST_NAMED = 10
"""Most jobs or versions a refused delete names one by one."""
MOST_PART_BYTES = 255
"""The longest name of a folder or file most file systems take."""
_PART = r"[^./\\\x00][^/\\\x00]{0,59}"
NAME_PATTERN = rf"^(?:{_PART}/){{0,8}}{_PART}\.[cC][sS][vV]$"
"""A data file's name as the API declares it: the names :func:`checked_name` takes, each
folder's and the file's name of 1 to 60 characters (at most 8 folders)."""
_DESCRIBED_KEPT = 1024
"""Files whose description a process remembers (by path, size and modification time)."""
HEAD_BYTES = 64 * 1024
"""How much of a file's beginning the CSV reader reads whole (cut after its last full line):
what finds its encoding's mark, delimiter, header and columns. The rest is streamed."""
CHUNK_BYTES = 1024 * 1024
"""How much of a file one read takes while it is hashed."""


class DataFiles:
    """The data files of ``folder`` (a project's data folder), with ``store`` (as the
    project sees it) to find what names them."""

    def __init__(self, folder: DataFolder, store: interfaces.DataFiles) -> None:
        self.folder, self.store = folder, store

    def list(self) -> list[DataFileRecord]:
        """Every CSV file of the project by name: the stored ones, and those of the folder on
        disk that no stored file's name hides (below it too, the hidden ones and other
        projects' folders left out), each described once while it is unchanged."""
        stored = self.folder.stored
        found = {file.name: file for file in stored.list()} if stored else {}
        root = self.folder.root.resolve()
        if root.is_dir():
            for path in sorted(root.rglob(f"*{SUFFIX}")):
                name = path.relative_to(root).as_posix()
                if name not in found and self._listed(name, path):
                    found[name] = describe(path, name)
        return [found[name] for name in sorted(found)]

    def _listed(self, name: str, path: Path) -> bool:
        if any(part.startswith(".") for part in PurePosixPath(name).parts):
            return False
        try:
            return self.folder.on_disk(name) is not None and path.is_file()
        except InvalidParameterError:  # another project's folder, a link out
            return False

    def describe(self, name: str) -> DataFileRecord:
        """The file ``name`` of the project, described.

        Raises
        ------
        NotFoundError
            If the project has no such file (or ``name`` names none of it).
        """
        stored = self._stored(name)
        if stored is not None:
            return stored
        return describe(self.path(name), checked_name(name))

    def path(self, name: str) -> Path:
        """The existing file ``name`` of the project, on this machine (to be sent whole): a
        copy of the stored one, else the folder's own.

        Raises
        ------
        NotFoundError
            If the project has no such file, or ``name`` is no name of a file of it.
        """
        try:
            return self.folder.file(checked_name(name))
        except InvalidParameterError:
            raise self._missing(name) from None

    def start_upload(self, name: str, *, overwrite: bool = False) -> Path:
        """A new temporary file to write an upload into before :meth:`finish_upload`: in a
        hidden folder of the data folder when the project's files are stored in the blob store
        (:class:`~azuraforge.platform.jobs.files.StoredData`), else beside the file's place
        (its folders made as needed).

        Raises
        ------
        InvalidParameterError
            If ``name`` is not a file's name in the folder (:func:`checked_name`, or a way
            into another project's folder or out through a link), or a file's name is a folder
            of it, or it is a folder of files.
        ConflictError
            If the project holds a file ``name`` already and ``overwrite`` is false.
        """
        target = self._place(name)
        if (target.exists() or self._stored(name)) and not overwrite:
            raise ConflictError(
                f"data file {name!r} exists in project {self.folder.project!r}; upload it "
                "with overwrite=true to replace it, or choose another name"
            )
        if self.folder.stored is not None:
            self._check_no_clash(self.folder.stored.check_name(name))
            place = self.folder.root / UPLOADS
        else:
            place = target.parent
        try:
            place.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # a part of the name is a file already, or the disk is full
            if e.errno == errno.ENOSPC:
                raise upload_not_kept(name, e) from e
            raise InvalidParameterError(
                f"{name!r} cannot be a file of the data folder of project "
                f"{self.folder.project!r}: {e.strerror or e}"
            ) from None
        return place / f"{PARTIAL}{secrets.token_hex(8)}{SUFFIX}"

    def _check_no_clash(self, name: str) -> None:
        """Refuse ``name`` if a folder of it is a stored file's name, or it is a folder of
        stored files (a folder of the data folder could not hold both)."""
        stored = self.folder.stored
        names = {file.name for file in stored.list()} if stored else set()
        folders = {parent.as_posix() for parent in PurePosixPath(name).parents}
        clash = names & folders or {n for n in names if n.startswith(f"{name}/")}
        if clash:
            raise InvalidParameterError(
                f"{name!r} cannot be a file of the data folder of project "
                f"{self.folder.project!r}: data file {min(clash)!r} is in the way"
            )

    def finish_upload(
        self, name: str, partial: Path, *, overwrite: bool = False
    ) -> DataFileRecord:
        """Check the uploaded ``partial`` file with the CSV reader and keep it as the file
        ``name`` (stored in the blob store, or moved into place in the folder); whatever goes
        wrong, ``partial`` is removed.

        Raises
        ------
        DataFormatError
            The reader's message, naming the file ``name``: not UTF-8 text, empty, a header
            without rows, rows of other widths, a single column.
        ConflictError
            If a file ``name`` appeared meanwhile and ``overwrite`` is false.
        """
        try:
            described = _described(partial, name)
            if described.problem is not None:
                raise DataFormatError(described.problem)
            if self.folder.stored is not None:
                described = dataclasses.replace(described, modified=time.time())
                self.folder.stored.put(partial, described, overwrite=overwrite)
                return described
            target = self._place(name)
            if overwrite:
                os.replace(partial, target)
            else:
                try:
                    os.link(partial, target)  # never replaces a file
                except FileExistsError:
                    raise ConflictError(
                        f"data file {name!r} was uploaded meanwhile in project "
                        f"{self.folder.project!r}; upload with overwrite=true to replace it"
                    ) from None
        finally:
            partial.unlink(missing_ok=True)
        _remember(target, described)  # the same bytes: a link, or the file renamed
        return described

    def delete(self, name: str) -> None:
        """Remove the file ``name`` from the project: the stored one, and the folder's own of
        that name (which a stored file hides; an old home's file taken in by ``azuraforge db
        upgrade``).

        Raises
        ------
        NotFoundError
            If the project has no such file.
        ConflictError
            If a job (a run, a trial, a stream) or a registered version names it, naming
            them: delete those first.
        """
        stored = self._stored(name)
        on_disk = self._on_disk(name)
        if stored is None and on_disk is None:
            raise self._missing(name)
        relative = checked_name(name)
        uses = self.store.find_data_file_uses(relative, sorted(data_file_settings()))
        if uses:
            raise ConflictError(f"data file {name!r} {named_by(uses)}; delete them first")
        if stored is not None and self.folder.stored is not None:
            self.folder.stored.delete(relative)
        if on_disk is not None:
            on_disk.unlink(missing_ok=True)

    def take_in(self) -> Copied:
        """Store each CSV file of the folder on disk that no stored file names yet (an old
        home's files, from before they were kept in the blob store; ``azuraforge db upgrade``
        calls it), described as it is now; the files are left where they are (the stored ones
        hide them, and :meth:`delete` removes both). What it did: files stored, files stored
        already, and the names no data file may have, each with why.

        Raises
        ------
        InvalidParameterError
            If the folder has no store to take its files in (``folder.stored`` is None).
        """
        stored, done = self.folder.stored, Copied()
        if stored is None:
            raise InvalidParameterError("a data folder without a blob store takes in nothing")
        root = self.folder.root.resolve()
        for path in sorted(root.rglob(f"*{SUFFIX}")) if root.is_dir() else []:
            name = path.relative_to(root).as_posix()
            if not self._listed(name, path):
                continue
            try:
                if stored.find(checked_name(name)) is not None:
                    done.kept += 1
                    continue
            except InvalidParameterError as e:
                done.refused.append(str(e))
                continue
            stored.put(path, describe(path, name))
            done.copied += 1
        return done

    def _stored(self, name: str) -> DataFileRecord | None:
        """The stored file ``name``, or None (also for a name no data file has)."""
        if self.folder.stored is None:
            return None
        try:
            return self.folder.stored.find(checked_name(name))
        except InvalidParameterError:
            return None

    def _on_disk(self, name: str) -> Path | None:
        """The folder's own file ``name`` on this machine's disk, or None."""
        try:
            return self.folder.on_disk(checked_name(name))
        except InvalidParameterError:
            return None

    def _place(self, name: str) -> Path:
        """Where the file ``name`` is, or goes, in the folder (its links followed)."""
        relative = checked_name(name)
        root = self.folder.root.resolve()
        target = (root / relative).resolve()
        apart = self.folder.apart.resolve() if self.folder.apart is not None else None
        if not target.is_relative_to(root) or (apart and target.is_relative_to(apart)):
            raise InvalidParameterError(
                f"{name!r} is not a file of the data folder of project "
                f"{self.folder.project!r}: name a file relative to it"
            )
        return root / relative

    def _missing(self, name: str) -> NotFoundError:
        return NotFoundError(f"no data file {name!r} in project {self.folder.project!r}")


def upload_not_kept(name: str, error: OSError) -> DiskFullError:
    """The error of an upload of data file ``name`` that its disk had no room for."""
    return DiskFullError(
        f"the server's disk is full: the upload of data file {name!r} was not kept ({error}); "
        "free space on it, then upload it again",
        public=f"the server's disk is full: the upload of data file {name!r} was not kept; "
        "free space on it, then upload it again",
    )


def checked_name(name: str) -> str:
    """``name`` if it names a CSV file of a data folder: relative, ending ``.csv``, of
    folders and a file whose names do not begin with a dot (no ``..``, nothing hidden),
    no registered dataset's name.

    >>> checked_name("shops/paris.csv")
    'shops/paris.csv'
    >>> checked_name("../beta/sales.csv")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: '../beta/sales.csv' is not a data file's name: ...
    """
    path = PurePosixPath(name)
    problem = _form_problem(name, path) or _part_problem(path) or _kind_problem(name, path)
    if problem is not None:
        raise InvalidParameterError(
            f"{shorten(name, quoted=True)} is not a data file's name: {problem}"
        )
    return name


def _form_problem(name: str, path: PurePosixPath) -> str | None:
    """What keeps ``name`` as a whole from naming a file of a folder, if anything."""
    if not name or "\x00" in name or "\\" in name or len(name) > 500:
        return "give a name of at most 500 characters, without NUL or backslashes"
    if path.is_absolute() or name != path.as_posix():
        return "give a name relative to the folder, without empty parts or a trailing '/'"
    return None


def _part_problem(path: PurePosixPath) -> str | None:
    """What keeps one of ``path``'s folders or its file from being named so, if anything."""
    if any(len(part.encode()) > MOST_PART_BYTES for part in path.parts):
        return f"a folder's or file's name has at most {MOST_PART_BYTES} bytes"
    if any(part.startswith(".") for part in path.parts):
        return "no part of it may begin with '.' ('..' or a hidden name)"
    return None


def _kind_problem(name: str, path: PurePosixPath) -> str | None:
    """What keeps ``name`` from naming a data file (a CSV file, no dataset), if anything."""
    if path.suffix.lower() != SUFFIX:
        return f"a data file's name ends with {SUFFIX}"
    if name in DATASETS:
        return "that is a registered dataset's name"
    return None


def named_by(uses: DataFileUses) -> str:
    """What names a file, as a refused delete says it: ``is named by run 3 (sales-1, queued),
    stream 5 (...) and model version sales-model/1``."""
    jobs = [f"{job.kind} {job.id} ({job.name}, {job.status})" for job in uses.jobs]
    versions = [f"model version {model}/{version}" for model, version in uses.versions]
    named = jobs[:MOST_NAMED] + versions[:MOST_NAMED]
    more = len(jobs) + len(versions) - len(named)
    listing = ", ".join(named) + (f" and {more} more" if more else "")
    return f"is named by {listing}"


def data_file_settings() -> set[str]:
    """The names of the file settings of the installed pipelines that load, and of a
    stream's config: the settings whose values are data files' names."""
    names = set(file_settings(StreamConfig))
    for pipeline in discover():
        try:
            names.update(file_settings(get_pipeline(pipeline).Config))
        except AzuraForgeError:
            continue  # a pipeline that does not load ran nothing that names a file
    return names


_DESCRIBED: OrderedDict[tuple[str, int, int], DataFileRecord] = OrderedDict()
_DESCRIBED_LOCK = threading.Lock()


def describe(path: Path, name: str) -> DataFileRecord:
    """The file at ``path``, named ``name``, described (read once while its size and
    modification time stay the same, in bounded memory: see :func:`_described`; remembered by
    the process)."""
    seen = _seen(path)
    with _DESCRIBED_LOCK:
        if seen in _DESCRIBED:
            _DESCRIBED.move_to_end(seen)
            return _DESCRIBED[seen]
    described = _described(path, name)
    _remember(path, described)
    return described


def _seen(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def _remember(path: Path, described: DataFileRecord) -> None:
    with _DESCRIBED_LOCK:
        _DESCRIBED[_seen(path)] = described
        if len(_DESCRIBED) > _DESCRIBED_KEPT:
            _DESCRIBED.popitem(last=False)


def _described(path: Path, name: str) -> DataFileRecord:
    """The file at ``path`` checked, its messages naming it ``name``, whatever its size in at
    most about :data:`HEAD_BYTES` and :data:`CHUNK_BYTES` of memory: hashed and searched for
    NUL bytes a chunk at a time, its head read by the CSV reader (the delimiter, header and
    columns), then its rows streamed (counted; their widths and encoding checked, with the
    reader's messages)."""
    stat = path.stat()
    columns: tuple[str, ...] = ()
    rows, delimiter, problem = 0, None, None
    sha256, nul_line = _hashed(path)
    try:
        if nul_line is not None:  # the reader's message, at the line of the first NUL
            utf8_text(b"\n" * (nul_line - 1) + b"\x00", name)
        table = _head_table(path, name)
        if len(table.column_names) < 2:
            raise DataFormatError(
                f"{name}, line {table.header_line}: one column ({table.column_names[0]!r}); a "
                "data file has two at least (a time or a feature, and a value), separated by "
                "',', ';' or tabs"
            )
        whole = stat.st_size <= HEAD_BYTES  # the reader read it all
        rows = len(table) if whole else _count_rows(path, name, table)
        columns, delimiter = table.column_names, table.delimiter
    except (DataFormatError, NotFoundError) as e:
        problem, rows = str(e).replace(str(path), name), 0
    return DataFileRecord(
        name=name, bytes=stat.st_size, modified=stat.st_mtime, sha256=sha256,
        columns=columns, rows=rows, delimiter=delimiter, problem=problem,
    )  # fmt: skip


def _hashed(path: Path) -> tuple[str, int | None]:
    """The SHA-256 of the file, and the line of its first NUL byte (None: it has none)."""
    digest, lines = hashlib.sha256(), 0
    nul_line = None
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            if nul_line is None:
                nul = chunk.find(b"\x00")
                if nul >= 0:
                    nul_line = lines + chunk.count(b"\n", 0, nul) + 1
                lines += chunk.count(b"\n")
    return digest.hexdigest(), nul_line


def _head_table(path: Path, name: str) -> CsvTable:
    """The file's first :data:`HEAD_BYTES` (cut after a line) as the CSV reader reads them
    (the whole file when it is no longer), its messages naming ``name``.

    Raises
    ------
    DataFormatError
        The reader's message; or, for a first line longer than the head, one saying so.
    """
    with path.open("rb") as file:
        head = file.read(HEAD_BYTES + 1)
    if len(head) <= HEAD_BYTES:
        return read_csv(path, header=True, delimiter="auto")
    if b"\n" not in head[:HEAD_BYTES]:
        raise DataFormatError(
            f"{name}, line 1: longer than {HEAD_BYTES // 1024} KiB; a CSV file's first line "
            "is its header, the names of its columns"
        )
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "head.csv"
        copy.write_bytes(head[: head.rindex(b"\n", 0, HEAD_BYTES) + 1])
        try:
            return read_csv(copy, header=True, delimiter="auto")
        except DataFormatError as e:
            raise DataFormatError(str(e).replace(str(copy), name)) from None


def _count_rows(path: Path, name: str, head: CsvTable) -> int:
    """The data rows of the whole file, streamed: each split by the head's delimiter and as
    wide as its header (the reader's messages naming ``name`` else)."""
    width, rows = len(head.column_names), 0
    with path.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, delimiter=DELIMITERS[head.delimiter])
        try:
            for row in reader:
                if reader.line_num <= (head.header_line or 0) or not _filled(row):
                    continue
                rows += 1
                if len(row) != width:
                    raise DataFormatError(
                        f"{name}, line {reader.line_num}: {len(row)} fields, expected {width} "
                        f"({listing(head.column_names, ',')})"
                    )
        except csv.Error as e:
            raise DataFormatError(f"{name}, line {reader.line_num}: {e}") from e
        except UnicodeDecodeError:
            raise _not_utf8(path, name) from None
    return rows


def _filled(row: Sequence[str]) -> bool:
    """Whether a row is no blank line (which the reader skips)."""
    return len(row) > 1 or bool(row and row[0].strip())


def _not_utf8(path: Path, name: str) -> DataFormatError:
    """The reader's message for the file's first line that is not UTF-8 (found streaming)."""
    for number, line in enumerate(_lines(path), 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            try:
                utf8_text(b"\n" * (number - 1) + line, name)
            except DataFormatError as e:
                return e
    return DataFormatError(f"{name} is not a UTF-8 text CSV file")  # unreachable: said above


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines as bytes, a byte order mark left out."""
    with path.open("rb") as file:
        first = True
        for line in file:
            yield line.removeprefix(codecs.BOM_UTF8) if first else line
            first = False
