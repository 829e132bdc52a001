"""The data folders: each project's is the only folder whose files its jobs may read.

Project ``p``'s folder is ``data_dir/projects/p``; the default project's is ``data_dir``
itself (where every file was before projects had folders of their own), less its
``projects`` folder (:meth:`DataFolder.of`). A registered dataset's name is readable from
every project.

A pipeline declares a file setting by typing a field of its ``Config`` ``Path`` (a
forecaster's ``csv``). Whatever carries such a value — a run's config, a grid, a study's base
config or search space, a future kind of job — it is checked here, once where it enters
(the services call :meth:`DataFolder.confine` on every config they validate, with the folder
of the request's project) and again where a worker is about to run it
(:meth:`~azuraforge.platform.jobs.context.StoreContext.open_files`, with the folder of the
job's project), so a value that slipped past the first check, or a file swapped for a
symbolic link since, still reads nothing outside the folder. A value is a file of the folder,
relative to it, or a registered dataset's name (which reads only the dataset cache).

A project's uploaded files are kept in the blob store, not in the folder
(:class:`StoredData`): their bytes under ``data/<project>/sha256/<digest>/<name>``, their
names pointing at the digest in the store, so every API process and worker sees the same
files; a process reads one through a copy in its machine's cache, checked against the digest.
A name the store holds is read from there; the folder on disk is read only for the names it
does not hold (files put there by hand, a stream following a growing file). On many machines
such a file is published to the blob store where the API accepts the job, and its worker reads
it from there (:class:`PublishedData`; :func:`data_folder_of` says when).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError
from azuraforge.learn.datasets import DATASETS
from azuraforge.platform.blobs import CHUNK_BYTES, BlobCache, BlobStore, LocalBlobs, blob_key
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DEFAULT_PROJECT, DataFileRecord
from azuraforge.platform.store.interfaces import DataFiles

Problem = tuple[tuple[str | int, ...], str]
PROJECTS = "projects"
"""The folder of the data folder that holds the other projects' folders, one per project."""


class OutsideDataFolderError(InvalidParameterError):
    """File settings that name no file of the data folder; ``problems`` lists ``(path,
    message)`` pairs, each path a setting's name. Messages name what was sent, never where
    the folder is on the server."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
        self.problems = list(problems)


def file_settings(config: type[BaseModel]) -> list[str]:
    """The names of ``config``'s file settings: its fields typed ``Path`` (or ``Path | None``).

    >>> from azuraforge.apps import get_pipeline
    >>> file_settings(get_pipeline("forecaster").Config)
    ['csv']
    """
    return [name for name, field in config.model_fields.items() if _is_path(field.annotation)]


def _is_path(annotation: Any) -> bool:
    return annotation is Path or any(_is_path(a) for a in get_args(annotation))


PUBLISHED = "data"
"""The blob prefix of the published data files: ``data/<project>/names/<name>`` holds the
SHA-256 of the file ``name`` of the project's folder as last published, and
``data/<project>/sha256/<digest>/<name>`` the bytes of that version, never changed."""
_DIGEST = re.compile(r"[0-9a-f]{64}")
_DIGESTS_KEPT = 256
"""Files whose digest a process remembers (by path, size, times and inode)."""


class PublishedData:
    """The projects' data files kept in ``blobs`` for workers that do not share the API's
    disk, read through copies in the folder ``cache_root`` of the worker's machine.

    Where a job is accepted, each data file it names is published (:meth:`publish`): its
    bytes stored under their SHA-256, once, and its name pointed at them. Where it runs, the
    file as last published is read (:meth:`fetch`): copied once, checked against its
    digest. So a job reads its file as it was when a job naming it was last accepted, as a
    worker sharing the disk reads it as it is when the job starts.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "sales.csv").write_text("day,sales\\n1,10\\n")
    >>> data = PublishedData(LocalBlobs(tempfile.mkdtemp()), tempfile.mkdtemp())
    >>> data.publish("lab", "sales.csv", folder / "sales.csv")
    >>> data.fetch("lab", "sales.csv").read_text()
    'day,sales\\n1,10\\n'
    >>> data.fetch("lab", "other.csv") is None
    True
    """

    def __init__(self, blobs: BlobStore, cache_root: str | os.PathLike[str]) -> None:
        self.blobs, self.cache = blobs, BlobCache(blobs, cache_root)

    def publish(self, project: str, name: str, path: Path) -> None:
        """Keep the file at ``path``, named ``name`` in ``project``'s data folder, for the
        workers: its bytes stored unless a version of that digest is, its name pointed at
        them (a file unchanged since this process last read it is not read again)."""
        digest = _digest(path)
        content = _content_key(project, digest, name)
        if not self.blobs.exists(content):
            self.blobs.put_file(path, content)
        pointer = _pointer(project, name)
        if self._pointed(pointer) != digest:
            self.blobs.put_bytes(pointer, digest.encode())

    def fetch(self, project: str, name: str) -> Path | None:
        """The copy on this machine of ``project``'s data file ``name`` as last published,
        or None when it never was.

        Raises
        ------
        InvalidParameterError
            If the copy's bytes are not those published (the file changed while it was being
            stored): the stored version is dropped, to be published again.
        """
        digest = self._pointed(_pointer(project, name))
        if digest is None:
            return None
        prefix = _content_prefix(project, digest)
        folder = self.cache.folder(prefix)
        copy = folder / name
        if not copy.resolve().is_relative_to(folder.resolve()) or _sha256(copy) != digest:
            shutil.rmtree(folder, ignore_errors=True)
            self.blobs.delete_prefix(prefix)
            raise InvalidParameterError(
                f"data file {name!r} of project {project!r} changed while it was being "
                "stored for the workers: submit the job again"
            )
        return copy

    def _pointed(self, pointer: str) -> str | None:
        """The digest the name ``pointer`` points at, or None."""
        try:
            digest = self.blobs.get_bytes(pointer).decode("ascii", "replace")
        except NotFoundError:
            return None
        return digest if _DIGEST.fullmatch(digest) else None


def _pointer(project: str, name: str) -> str:
    return blob_key(f"{PUBLISHED}/{project}/names/{name}")


def _content_prefix(project: str, digest: str) -> str:
    return f"{PUBLISHED}/{project}/sha256/{digest}"


_DIGESTS: OrderedDict[tuple[str, int, int, int, int], str] = OrderedDict()
_DIGESTS_LOCK = threading.Lock()


def _digest(path: Path) -> str:
    """The SHA-256 of the file at ``path``, remembered by the process while it is unchanged
    (its size, times and inode the same)."""
    stat = path.stat()
    seen = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    with _DIGESTS_LOCK:
        if seen in _DIGESTS:
            _DIGESTS.move_to_end(seen)
            return _DIGESTS[seen]
    digest = _sha256(path)
    with _DIGESTS_LOCK:
        _DIGESTS[seen] = digest
        if len(_DIGESTS) > _DIGESTS_KEPT:
            _DIGESTS.popitem(last=False)
    return digest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class StoredData:
    """Project ``project``'s uploaded data files: their bytes kept in ``blobs`` under
    ``data/<project>/sha256/<digest>/<name>`` (never changed), their names pointing at the
    digest in ``store`` (:meth:`~azuraforge.platform.store.Store.find_data_file`); read
    through copies in the folder ``cache_root`` of this machine, each checked against its
    digest where it is opened.

    Examples
    --------
    >>> import tempfile
    >>> from azuraforge.platform.store import Store, upgrade_database
    >>> url = f"sqlite:///{tempfile.mkdtemp()}/af.db"
    >>> _ = upgrade_database(url)
    >>> blobs = LocalBlobs(tempfile.mkdtemp())
    >>> data = StoredData(Store(url), blobs, tempfile.mkdtemp(), DEFAULT_PROJECT)
    >>> upload = Path(tempfile.mkdtemp()) / "upload"
    >>> _ = upload.write_text("day,sales\\n1,10\\n")
    >>> file = DataFileRecord("sales.csv", 16, 0.0, _sha256(upload), ("day", "sales"), 1, ",")
    >>> data.put(upload, file)
    >>> data.copy(data.get("sales.csv")).read_text()
    'day,sales\\n1,10\\n'
    >>> data.delete("sales.csv"), data.find("sales.csv"), list(blobs.list_keys())
    (True, None, [])
    """

    def __init__(
        self, store: DataFiles, blobs: BlobStore, cache_root: str | os.PathLike[str], project: str
    ) -> None:
        self.store, self.blobs, self.project = store, blobs, project
        self.cache = BlobCache(blobs, cache_root)

    def check_name(self, name: str) -> str:
        """``name``, if a stored file may have it (its bytes' key is valid: no control
        character, not too long).

        Raises
        ------
        InvalidParameterError
            Naming ``name`` and why, not the key.
        """
        try:
            _content_key(self.project, "0" * 64, name)
        except InvalidParameterError as e:
            why = str(e).partition(" is refused: ")[2].partition(";")[0]
            raise InvalidParameterError(
                f"{name!r} is not a data file's name: {why or 'it cannot be stored'}"
            ) from None
        return name

    def find(self, name: str) -> DataFileRecord | None:
        """The stored file ``name``, or None (for a name no key may be, too)."""
        if not _relative_name(name):
            return None
        return self.store.find_data_file(name, project=self.project)

    def get(self, name: str) -> DataFileRecord:
        """The stored file ``name``; :class:`NotFoundError` if there is none."""
        found = self.find(name)
        if found is None:
            raise NotFoundError(f"no data file {name!r} in project {self.project!r}")
        return found

    def list(self) -> list[DataFileRecord]:
        """Every stored file of the project, by name."""
        return self.store.list_data_files(project=self.project)

    def put(self, path: Path, file: DataFileRecord, *, overwrite: bool = False) -> None:
        """Keep the file at ``path`` as ``file`` (its name, its digest and description): its
        bytes stored unless that version of it is, then its name pointed at them; the bytes
        of the version it replaced are dropped.

        Raises
        ------
        ConflictError
            If the project has a file of that name and ``overwrite`` is false (nothing kept).
        """
        key = _content_key(self.project, file.sha256, file.name)
        if not self.blobs.exists(key):
            self.blobs.put_file(path, key)
        try:
            replaced = self.store.set_data_file(file, overwrite=overwrite, project=self.project)
        except ConflictError:
            kept = self.find(file.name)
            if kept is None or kept.sha256 != file.sha256:
                self.blobs.delete(key)
            raise
        if replaced is not None and replaced.sha256 != file.sha256:
            self._drop(replaced)

    def delete(self, name: str) -> bool:
        """Drop the stored file ``name`` (its name, then its bytes); whether there was one."""
        dropped = self.store.delete_data_file(name, project=self.project)
        if dropped is not None:
            self._drop(dropped)
        return dropped is not None

    def copy(self, file: DataFileRecord) -> Path:
        """This machine's copy of the stored ``file``: fetched into the cache once, checked
        against its digest at each call (a copy whose size and times have not changed since
        this process checked it is not read again).

        Raises
        ------
        InvalidParameterError
            If the copy's bytes are not the file's (the copy is dropped), or its bytes were
            dropped meanwhile (the file replaced or deleted while it was being read).
        """
        folder = self.cache.path(_content_prefix(self.project, file.sha256))
        copy = folder / file.name
        if not copy.resolve().is_relative_to(folder.resolve()):  # a link in the cache
            raise InvalidParameterError(
                f"the copy of data file {file.name!r} of project {self.project!r} on this "
                "machine leads out of its cache folder (through a symbolic link); remove the link"
            )
        try:
            if not copy.is_file():
                self.blobs.get_file(_content_key(self.project, file.sha256, file.name), copy)
        except NotFoundError:
            raise self._changed(file.name) from None
        if _digest(copy) != file.sha256:
            copy.unlink(missing_ok=True)
            raise self._changed(file.name)
        return copy

    def _changed(self, name: str) -> InvalidParameterError:
        return InvalidParameterError(
            f"data file {name!r} of project {self.project!r} changed while it was being read "
            "(replaced, deleted, or its copy on this machine altered): submit the job again"
        )

    def _drop(self, file: DataFileRecord) -> None:
        self.blobs.delete(_content_key(self.project, file.sha256, file.name))


def _content_key(project: str, digest: str, name: str) -> str:
    return blob_key(f"{_content_prefix(project, digest)}/{name}")


def data_folder_of(
    settings: Settings, project: str, blobs: BlobStore, store: DataFiles | None = None
) -> DataFolder:
    """The data folder of ``project`` in ``settings.data_dir``, its uploaded files those
    ``store`` points at in ``blobs`` (:class:`StoredData`; none without ``store``). Its files
    on disk are published to ``blobs`` and read from there (:class:`PublishedData`) unless
    ``blobs`` is a folder of the home (the embedded default: its workers share this machine's
    disk and read the data folder in place)."""
    stored = None if store is None else StoredData(store, blobs, settings.cache_dir, project)
    if isinstance(blobs, LocalBlobs) and blobs.root.is_relative_to(settings.home.absolute()):
        return DataFolder.of(settings.data_dir, project, stored=stored)
    published = PublishedData(blobs, settings.cache_dir)
    return DataFolder.of(settings.data_dir, project, published=published, stored=stored)


class DataFolder:
    """The folder ``root`` whose files project ``project``'s jobs may read, less the folder
    ``apart`` inside it (the other projects' folders, inside the default project's); its
    files kept for workers of other machines in ``published``, when given; the project's
    uploaded files in ``stored``, when given (a name it holds is read from there, never from
    ``root``)."""

    def __init__(
        self,
        root: Path,
        *,
        project: str = DEFAULT_PROJECT,
        apart: Path | None = None,
        published: PublishedData | None = None,
        stored: StoredData | None = None,
    ) -> None:
        self.root, self.project, self.apart = root, project, apart
        self.published, self.stored = published, stored
        self.copies: list[Path] = []
        """The folders of this machine's copies of published files this folder opened."""

    @classmethod
    def of(
        cls,
        data_dir: Path,
        project: str,
        *,
        published: PublishedData | None = None,
        stored: StoredData | None = None,
    ) -> DataFolder:
        """The data folder of ``project`` in the server's ``data_dir``: ``projects/<name>``
        there; the default project's is ``data_dir`` itself, less ``projects``.

        >>> DataFolder.of(Path("data"), "lab").root
        PosixPath('data/projects/lab')
        """
        if project == DEFAULT_PROJECT:
            apart = data_dir / PROJECTS
            return cls(data_dir, project=project, apart=apart, published=published, stored=stored)
        root = data_dir / PROJECTS / project
        return cls(root, project=project, published=published, stored=stored)

    def file(self, value: Any) -> Path:
        """The file ``value`` names: this machine's copy of the stored file of that name
        (:class:`StoredData`), else the folder's own (:meth:`on_disk`).

        Raises
        ------
        InvalidParameterError
            As :meth:`on_disk` does, or for a stored file whose copy is not its bytes.
        """
        found = self.stored.find(str(value)) if self.stored is not None else None
        if found is None:
            return self.on_disk(value)
        return self._stored_copy(found)

    def _stored_copy(self, file: DataFileRecord) -> Path:
        """This machine's copy of the stored ``file``, its cache folder kept in ``copies``."""
        if self.stored is None:  # never: a stored file is found through it
            raise InvalidParameterError(f"no stored data file {file.name!r}")
        copy = self.stored.copy(file)
        self.copies.append(copy.parents[len(Path(file.name).parts) - 1])
        return copy

    def on_disk(self, value: Any) -> Path:
        """The existing file of the folder on this machine's disk that ``value`` names
        (relative to it, or absolute inside it); symbolic links are followed and must stay
        inside.

        Raises
        ------
        InvalidParameterError
            For an absolute path, a way out (``..``, a link, another project's folder), a
            NUL, or no such file; the message names ``value`` and the project, not the
            folder, and is the same whether another project holds such a file or not.
        """
        text = str(value)
        try:
            path = (self.root.resolve() / text).resolve()
            inside, exists = self._holds(path), path.is_file()
        except (OSError, ValueError, RuntimeError):  # NUL, a name too long, a link loop
            inside = exists = False
        where = f"the server's data folder of project {self.project!r}"
        if not inside:
            raise InvalidParameterError(
                f"{text!r} is not a file of {where}: name a file relative to it, or a "
                f"registered dataset ({', '.join(DATASETS)})"
            )
        if not exists:
            raise InvalidParameterError(f"no file {text!r} in {where}")
        return path

    def _holds(self, path: Path) -> bool:
        """Whether the resolved ``path`` is inside the folder and not in ``apart``."""
        if self.apart is not None and path.is_relative_to(self.apart.resolve()):
            return False
        return path.is_relative_to(self.root.resolve())

    def confine(self, config: type[BaseModel], settings: Mapping[str, Any]) -> dict[str, Any]:
        """``settings`` with each file setting of ``config`` written as its file's path
        relative to the folder, to be stored (a run's config names no server folder, and a
        worker finds the file in the store, in its own folder, or as published); a stored
        file's name and a registered dataset's are kept as they are. With ``published``, each
        file of the folder on disk is published for the workers.

        Raises
        ------
        OutsideDataFolderError
            Naming each file setting that does not name a file of the folder.
        """
        return self._each_file(config, settings, self._kept, lambda file: file.name)

    def open(
        self, config: type[BaseModel], settings: Mapping[str, Any], *, growing: bool = False
    ) -> dict[str, Any]:
        """``settings`` with each file setting of ``config`` made the absolute path of its
        file, for a worker about to run them (checked again: the folder may have changed).
        A stored file's is this machine's copy of it (:meth:`StoredData.copy`). With
        ``published``, a file of the folder on disk is this machine's copy of it as last
        published (for a file never published, this machine's own); a ``growing`` file (a
        stream following it) is this machine's own, if it has one.

        Raises
        ------
        OutsideDataFolderError
            Naming each file setting that does not name a file of the folder.
        """
        if growing:
            return self._each_file(config, settings, str, None, self._growing)
        copy = self._stored_copy
        if self.published is None:
            return self._each_file(config, settings, str, lambda file: str(copy(file)))
        return self._each_file(config, settings, str, lambda file: str(copy(file)), self._copy)

    def _growing(self, value: Any) -> Path:
        """The folder's own file ``value`` names (a file being written to, a stream follows
        it), else this machine's copy of the stored file of that name."""
        try:
            return self.on_disk(value)
        except InvalidParameterError:
            found = self.stored.find(str(value)) if self.stored is not None else None
            if found is None:
                raise
            return self._stored_copy(found)

    def _kept(self, path: Path) -> str:
        """The name of the file at ``path`` (checked to be in the folder), published."""
        name = str(path.relative_to(self.root.resolve()))
        if self.published is not None:
            self.published.publish(self.project, name, path)
        return name

    def _copy(self, value: Any) -> Path:
        """This machine's copy of the published file ``value`` names, or (never published)
        its own file ``value`` names."""
        name = str(value)
        copy = None
        if self.published is not None and _relative_name(name):
            copy = self.published.fetch(self.project, name)
        if copy is None:
            return self.on_disk(value)
        self.copies.append(copy.parents[len(Path(name).parts) - 1])
        return copy

    def _each_file(
        self,
        config: type[BaseModel],
        settings: Mapping[str, Any],
        write: Callable[[Path], str],
        stored: Callable[[DataFileRecord], str] | None,
        find: Callable[[Any], Path] | None = None,
    ) -> dict[str, Any]:
        """``settings`` with each file setting's value ``stored(file)`` for a stored file
        (when ``stored`` is given), else ``write(find(value))``."""
        checked, problems = dict(settings), []
        for name in file_settings(config):
            value = settings.get(name)
            if value is None or str(value) in DATASETS:
                continue
            try:
                checked[name] = self._file_value(value, write, stored, find)
            except InvalidParameterError as e:
                problems.append(((name,), str(e)))
        if problems:
            raise OutsideDataFolderError(problems)
        return checked

    def _file_value(
        self,
        value: Any,
        write: Callable[[Path], str],
        stored: Callable[[DataFileRecord], str] | None,
        find: Callable[[Any], Path] | None,
    ) -> str:
        """A file setting's ``value`` as :meth:`_each_file` gives it."""
        found = self.stored.find(str(value)) if self.stored and stored else None
        if found is not None and stored is not None:
            return stored(found)
        return write((find or self.on_disk)(value))


def _relative_name(name: str) -> bool:
    """Whether ``name`` is a data file's name as :meth:`DataFolder.confine` stores it."""
    try:
        blob_key(name)
    except InvalidParameterError:
        return False
    return True
