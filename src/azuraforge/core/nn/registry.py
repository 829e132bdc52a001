"""Architectures by name: what :func:`azuraforge.core.save` stores instead of an import path.

A saved model names each module's architecture, never its module path, so loading a file
imports nothing the file names. Built-in layers and losses register under PyTorch's class
name (``"Linear"``, ``"Conv2d"``, ``"Sequential"``). A script registers its own models with
:func:`register_architecture`; a package declares them in the entry-point group
``azuraforge.architectures``, which is read lazily, only for a name not registered in this
process::

    [project.entry-points."azuraforge.architectures"]
    sequence-regressor = "azuraforge.apps.forecasting:SequenceRegressor"
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TypeVar

from azuraforge.core.nn.module import Module
from azuraforge.errors import InvalidParameterError, NotFoundError, PluginError

GROUP = "azuraforge.architectures"

ModuleT = TypeVar("ModuleT", bound=type[Module])

_ARCHITECTURES: dict[str, type[Module]] = {}


def _path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _check_unique(name: str, cls: type[Module]) -> None:
    taken = _ARCHITECTURES.get(name)
    if taken is not None and taken is not cls:
        raise PluginError(
            f"architecture name {name!r} is taken by {_path(taken)}, cannot register "
            f"{_path(cls)} under it too; pick another name"
        )
    other_names = [n for n, c in _ARCHITECTURES.items() if c is cls and n != name]
    if other_names:
        raise PluginError(
            f"{_path(cls)} is already registered as {other_names[0]!r}, cannot register it "
            f"as {name!r} too: a class has one name, so saved files stay readable"
        )


def _add(name: str, cls: object, source: str) -> type[Module]:
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise PluginError(f"architecture {name!r} from {source} is not an nn.Module subclass")
    _check_unique(name, cls)
    _ARCHITECTURES[name] = cls
    return cls


def register_architecture(name: str) -> Callable[[ModuleT], ModuleT]:
    """A class decorator that registers an ``nn.Module`` subclass under ``name``, so
    :func:`azuraforge.core.save` can store it and :func:`azuraforge.core.load` rebuild it.

    Registering the same class under the same name again does nothing; to register a class
    you did not write, call it: ``register_architecture("name")(SomeModel)``. A package that
    ships models declares them in the entry-point group ``azuraforge.architectures``
    instead, so files load without importing the package first.

    Parameters
    ----------
    name
        The stable name saved files use; keep it when the class moves or is renamed.

    Raises
    ------
    PluginError
        If ``name`` belongs to another class, the class has another name, or the class is
        not an ``nn.Module`` subclass.

    Examples
    --------
    >>> from azuraforge.core import nn
    >>> @nn.register_architecture("doc-two-layer")
    ... class TwoLayer(nn.Module):
    ...     def __init__(self, hidden: int):
    ...         self.first, self.second = nn.Linear(3, hidden), nn.Linear(hidden, 1)
    >>> nn.get_architecture("doc-two-layer") is TwoLayer
    True
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"an architecture name is a non-empty string, got {name!r}")

    def register(cls: ModuleT) -> ModuleT:
        _add(name, cls, f"register_architecture({name!r})")
        return cls

    return register


def _declared(name: str) -> list[EntryPoint]:
    return [e for e in entry_points(group=GROUP) if e.name == name]


def entry_point_origin(entry: EntryPoint) -> str:
    """The distribution that declares ``entry``, as ``"name version"`` for messages.

    Examples
    --------
    >>> entry_point_origin(EntryPoint("mlp", "my_models:MLP", "azuraforge.architectures"))
    'unknown distribution'
    """
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"


def _load_entry_point(name: str, declared: list[EntryPoint]) -> type[Module]:
    if len({e.value for e in declared}) > 1:
        first, second = declared[0], next(e for e in declared if e.value != declared[0].value)
        raise PluginError(
            f"two packages declare architecture {name!r}: {first.value} from "
            f"{entry_point_origin(first)} and {second.value} from {entry_point_origin(second)}; "
            "uninstall one"
        )
    entry = declared[0]
    try:
        cls = entry.load()
    except Exception as e:  # any failure of third-party code is reported with its cause
        raise PluginError(
            f"architecture {name!r} ({entry.value} from {entry_point_origin(entry)}) failed to "
            f"import: {e!r}"
        ) from e
    return _add(name, cls, f"entry point {entry.value}")


def get_architecture(name: str) -> type[Module]:
    """The class registered as ``name``, in this process or through an entry point.

    Raises
    ------
    NotFoundError
        If nothing is registered under ``name`` (the message says how to register it).
    PluginError
        If the entry point declaring it cannot be imported or is not a module class.
    """
    if name in _ARCHITECTURES:
        return _ARCHITECTURES[name]
    declared = _declared(name)
    if not declared:
        raise NotFoundError(
            f"no architecture named {name!r} is registered (known: "
            f"{', '.join(list_architectures())}); {how_to_register(name, 'MyModel')}"
        )
    return _load_entry_point(name, declared)


def how_to_register(name: str, class_name: str) -> str:
    """The advice an error gives: a decorator in a script, an entry point in a package."""
    return (
        f"in a script, decorate the class with @register_architecture({name!r}) from "
        f"azuraforge.core.nn before saving or loading; a package declares it under "
        f'[project.entry-points."{GROUP}"] as {name} = "package.module:{class_name}"'
    )


def _declares(entry: EntryPoint, cls: type[Module]) -> bool:
    if entry.value == _path(cls):
        return True
    if entry.module not in sys.modules:
        return False
    try:
        return bool(entry.load() is cls)
    except Exception:  # a broken plugin is reported when its own name is looked up
        return False


def find_architecture_name(cls: type[Module]) -> str | None:
    """The name ``cls`` is registered under (in process or by entry point), or ``None``.

    Entry points are compared with the class's import path as text; an entry point is
    loaded only when its module is already imported (a re-exported class), so looking up
    a name imports nothing.
    """
    for name, registered in _ARCHITECTURES.items():
        if registered is cls:
            return name
    for entry in entry_points(group=GROUP):
        if entry.name not in _ARCHITECTURES and _declares(entry, cls):
            _add(entry.name, cls, f"entry point {entry.value}")
            return entry.name
    return None


def find_architecture_by_path(path: str) -> type[Module] | None:
    """The registered class whose import path (``module:qualname``) is ``path``, matched as
    text against classes registered in process and entry-point values; ``None`` if none.
    Only a matching entry point is loaded, so nothing ``path`` names is imported by it."""
    for registered in _ARCHITECTURES.values():
        if _path(registered) == path:
            return registered
    matches = [e for e in entry_points(group=GROUP) if e.value == path]
    return get_architecture(matches[0].name) if matches else None


def list_architectures() -> list[str]:
    """Every registered name, in process and declared by entry points, sorted.

    Examples
    --------
    >>> from azuraforge.core import nn
    >>> {"Conv2d", "LSTM", "Sequential"} <= set(nn.list_architectures())
    True
    """
    return sorted({*_ARCHITECTURES, *(e.name for e in entry_points(group=GROUP))})


__all__ = [
    "GROUP",
    "entry_point_origin",
    "find_architecture_by_path",
    "find_architecture_name",
    "get_architecture",
    "how_to_register",
    "list_architectures",
    "register_architecture",
]
