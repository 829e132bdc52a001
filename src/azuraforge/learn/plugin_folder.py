"""The plugin folder: Python files an administrator drops in one folder, loaded at start.

A file there declares its plugins in a module-level dictionary, ``azuraforge_plugins``, laid
out as the entry-point table of a ``pyproject.toml`` (group, then name), with the classes
themselves as values::

    from azuraforge.apps.base import Pipeline

    class TinyWeather(Pipeline):
        name = "tiny-weather"
        ...

    azuraforge_plugins = {"azuraforge.pipelines": {"tiny-weather": TinyWeather}}

Each declaration becomes an entry point of its group, found by the same
:class:`~azuraforge.learn.plugins.PluginGroup` as the installed distributions' (a pipeline,
a stream source, a job kind: whatever group reads it), loaded and checked the same way; the
``distribution`` it shows is ``plugin folder: <file>``. Like pytest's ``conftest.py`` files,
a file is imported as it is, once per process, under the module name
``azuraforge_plugins.<stem>``.

Only the files directly in the folder are read, ``*.py`` whose name is a Python module name;
a symbolic link leading out of the folder is refused. A file that fails to import (or whose
declarations are malformed) is a warning naming it and a line in :func:`loaded_folder`'s
files, never an error: the others load. What is executed is exactly what was hashed
(SHA-256, read once), so the digest of the loaded set (:attr:`LoadedFolder.digest`) says
which code the process runs; replicas compare theirs.
"""

from __future__ import annotations

import hashlib
import sys
import types
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

DECLARATIONS = "azuraforge_plugins"
"""The module-level name a plugin file declares its plugins under."""
MODULE_PREFIX = "azuraforge_plugins"
"""The package name the folder's files are imported under (``azuraforge_plugins.weather``)."""
SHOWN_FOLDER = "<plugins_dir>"
"""What an error message shows instead of the folder's path."""


@dataclass(frozen=True)
class PluginFile:
    """One file of the plugin folder: its name, the SHA-256 of what was read, the entry
    points it declares (``group:name``), and why it did not load (``error``), if it did not."""

    name: str
    sha256: str
    declares: tuple[str, ...] = ()
    error: str = ""

    @property
    def loaded(self) -> bool:
        """Whether the file was imported and its declarations taken."""
        return not self.error


@dataclass(frozen=True)
class LoadedFolder:
    """What a process loaded from its plugin folder (``folder`` ``None``: none is set)."""

    folder: Path | None
    files: tuple[PluginFile, ...]
    entries: tuple[EntryPoint, ...]
    origins: dict[str, str]
    """Each entry point's ``module:attr`` and the file that declares it."""

    @property
    def digest(self) -> str:
        """SHA-256 over the names and hashes of the files that loaded, in name order: equal
        in two processes exactly when they run the same plugin files (that of the empty set
        when none loaded).

        >>> LoadedFolder(None, (), (), {}).digest[:12]
        'e3b0c44298fc'
        """
        lines = "".join(f"{f.name}\0{f.sha256}\n" for f in self.files if f.loaded)
        return hashlib.sha256(lines.encode()).hexdigest()


_NONE = LoadedFolder(None, (), (), {})
_loaded = _NONE


def loaded_folder() -> LoadedFolder:
    """What this process loaded from its plugin folder (nothing before :func:`load_folder`)."""
    return _loaded


def folder_entries(group: str) -> tuple[EntryPoint, ...]:
    """The entry points of ``group`` declared by the plugin folder's files."""
    return tuple(entry for entry in _loaded.entries if entry.group == group)


def folder_origin(entry: EntryPoint) -> str | None:
    """``plugin folder: <file>`` when the folder declares ``entry``; ``None`` otherwise."""
    if entry not in _loaded.entries:
        return None
    return f"plugin folder: {_loaded.origins[entry.value]}"


def load_folder(folder: Path | None) -> LoadedFolder:
    """Import the plugin files directly in ``folder`` (``None``: there is no plugin folder)
    and make their declarations entry points; once per process and folder (asked again for
    the same folder, what was loaded is returned). Never raises for a file: each failure is
    a warning naming it, and a line in the result.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "empty.py").write_text("x = 1\\n")
    ...     loaded = load_folder(Path(folder))
    >>> [(f.name, f.sha256[:8], f.declares, f.error) for f in loaded.files]
    [('empty.py', '9e26bf36', (), '')]
    >>> _ = load_folder(None)
    """
    global _loaded
    resolved = folder.resolve() if folder is not None else None
    if resolved == _loaded.folder and (resolved is not None or _loaded is _NONE):
        return _loaded
    _forget(_loaded)
    _loaded = _NONE if resolved is None else _load(resolved)
    return _loaded


def _load(folder: Path) -> LoadedFolder:
    if not folder.is_dir():
        warnings.warn(f"the plugin folder {folder} is not a folder: no plugin file loaded",
                      stacklevel=3)  # fmt: skip
        return LoadedFolder(folder, (), (), {})
    files, entries, origins = [], [], {}
    for path in sorted(folder.glob("*.py")):
        loaded, declared = _load_file(folder, path)
        files.append(loaded)
        entries += declared
        origins.update({entry.value: path.name for entry in declared})
    return LoadedFolder(folder, tuple(files), tuple(entries), origins)


def _load_file(folder: Path, path: Path) -> tuple[PluginFile, list[EntryPoint]]:
    """``path``'s record and its entry points (none when it fails, with a warning)."""
    target = path.resolve()
    if target.parent != folder or not target.is_file():
        return _refused(path.name, "", "a symbolic link leading out of the plugin folder, or "
                        "not a file: not read")  # fmt: skip
    if not path.stem.isidentifier():
        return _refused(path.name, "", "its name is not a Python module name: not read")
    source = target.read_bytes()
    sha256 = hashlib.sha256(source).hexdigest()
    module_name = f"{MODULE_PREFIX}.{path.stem}"
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    sys.modules[module_name] = module
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # the bytes hashed, no other
        declared = _declarations(module)
    except (Exception, SystemExit) as e:  # an administrator's file: reported, never raised
        sys.modules.pop(module_name, None)
        reason = f"{e!r}".replace(str(folder), SHOWN_FOLDER)
        return _refused(path.name, sha256, f"import failed: {reason}")
    names = tuple(f"{entry.group}:{entry.name}" for entry in declared)
    return PluginFile(path.name, sha256, names), declared


def _refused(name: str, sha256: str, error: str) -> tuple[PluginFile, list[EntryPoint]]:
    warnings.warn(f"plugin file {name!r} was not loaded: {error}", stacklevel=5)
    return PluginFile(name, sha256, error=error), []


def _declarations(module: types.ModuleType) -> list[EntryPoint]:
    """The entry points ``module``'s :data:`DECLARATIONS` names.

    Raises
    ------
    TypeError
        If they are not laid out as ``{group: {name: object defined at top level}}``.
    """
    table: Any = getattr(module, DECLARATIONS, {})
    if not isinstance(table, dict):
        raise TypeError(f"{DECLARATIONS} must be a dict of groups, got {type(table).__name__}")
    entries = []
    for group, plugins in table.items():
        if not isinstance(group, str) or not isinstance(plugins, dict):
            raise TypeError(f"{DECLARATIONS}[{group!r}] must be a dict of names to classes")
        for name, plugin in plugins.items():
            attribute = getattr(plugin, "__name__", None)
            if not isinstance(name, str) or getattr(module, str(attribute), None) is not plugin:
                raise TypeError(f"{DECLARATIONS}[{group!r}][{name!r}] must be a class defined "
                                "at the file's top level")  # fmt: skip
            entries.append(EntryPoint(name, f"{module.__name__}:{attribute}", group))
    return entries


def _forget(loaded: LoadedFolder) -> None:
    """Drop the modules of what ``loaded`` imported (another folder is loaded instead)."""
    for file in loaded.files:
        sys.modules.pop(f"{MODULE_PREFIX}.{Path(file.name).stem}", None)
