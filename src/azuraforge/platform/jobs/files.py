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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.datasets import DATASETS
from azuraforge.platform.store import DEFAULT_PROJECT

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


class DataFolder:
    """The folder ``root`` whose files project ``project``'s jobs may read, less the folder
    ``apart`` inside it (the other projects' folders, inside the default project's)."""

    def __init__(
        self, root: Path, *, project: str = DEFAULT_PROJECT, apart: Path | None = None
    ) -> None:
        self.root, self.project, self.apart = root, project, apart

    @classmethod
    def of(cls, data_dir: Path, project: str) -> DataFolder:
        """The data folder of ``project`` in the server's ``data_dir``: ``projects/<name>``
        there; the default project's is ``data_dir`` itself, less ``projects``.

        >>> DataFolder.of(Path("data"), "lab").root
        PosixPath('data/projects/lab')
        """
        if project == DEFAULT_PROJECT:
            return cls(data_dir, project=project, apart=data_dir / PROJECTS)
        return cls(data_dir / PROJECTS / project, project=project)

    def file(self, value: Any) -> Path:
        """The existing file of the folder that ``value`` names (relative to it, or absolute
        inside it); symbolic links are followed and must stay inside.

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
        worker finds the file in its own); a registered dataset's name is kept as it is.

        Raises
        ------
        OutsideDataFolderError
            Naming each file setting that does not name a file of the folder.
        """
        root = self.root.resolve()
        return self._each_file(config, settings, lambda path: str(path.relative_to(root)))

    def open(self, config: type[BaseModel], settings: Mapping[str, Any]) -> dict[str, Any]:
        """``settings`` with each file setting of ``config`` made the absolute path of its
        file, for a worker about to run them (checked again: the folder may have changed).

        Raises
        ------
        OutsideDataFolderError
            Naming each file setting that does not name a file of the folder.
        """
        return self._each_file(config, settings, str)

    def _each_file(
        self, config: type[BaseModel], settings: Mapping[str, Any], write: Callable[[Path], str]
    ) -> dict[str, Any]:
        checked, problems = dict(settings), []
        for name in file_settings(config):
            value = settings.get(name)
            if value is None or str(value) in DATASETS:
                continue
            try:
                checked[name] = write(self.file(value))
            except InvalidParameterError as e:
                problems.append(((name,), str(e)))
        if problems:
            raise OutsideDataFolderError(problems)
        return checked
