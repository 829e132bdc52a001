"""Finding pipelines through the entry-point group ``azuraforge.pipelines``.

Built-ins are declared in AzuraForge's own ``pyproject.toml`` exactly as a third-party
package declares its own. Loading is lazy; a plugin that fails to import is recorded with
its error (shown by ``azuraforge pipelines``) instead of breaking startup.

The declarations are read once and kept until ``sys.path`` or a folder on it changes (a
distribution installed or removed adds or deletes a folder there): reading every installed
distribution's entry points took each run a few milliseconds.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from azuraforge.apps.base import Pipeline
from azuraforge.core.nn.registry import entry_point_origin
from azuraforge.errors import NotFoundError, PluginError

GROUP = "azuraforge.pipelines"


@dataclass(frozen=True)
class PluginInfo:
    """One declared pipeline: where it comes from and whether it loaded."""

    name: str
    target: str
    distribution: str
    pipeline: type[Pipeline[Any]] | None = None
    error: str = ""


@dataclass
class _Declarations:
    """The group's entry points as read under one state of the import path."""

    path_state: tuple[tuple[str, int | None], ...]
    entries: tuple[EntryPoint, ...]
    origins: dict[EntryPoint, str] = field(default_factory=dict)


_read: _Declarations | None = None


def _path_state() -> tuple[tuple[str, int | None], ...]:
    """Each ``sys.path`` entry with its last change (``None`` when it does not exist)."""
    state = []
    for entry in sys.path:
        try:
            changed: int | None = os.stat(entry or ".").st_mtime_ns
        except OSError:
            changed = None
        state.append((entry, changed))
    return tuple(state)


def _declarations() -> _Declarations:
    global _read
    state = _path_state()
    if _read is None or _read.path_state != state:
        _read = _Declarations(state, tuple(entry_points(group=GROUP)))
    return _read


def declared() -> tuple[EntryPoint, ...]:
    """The entry points of group ``azuraforge.pipelines``, read again only when ``sys.path``
    or a folder on it changed. A worker calls it before forking each run, whose process then
    finds its pipeline without reading the installed distributions.

    >>> "weather-forecaster" in {entry.name for entry in declared()}
    True
    """
    return _declarations().entries


def _origin(entry: EntryPoint) -> str:
    origins = _declarations().origins
    if entry not in origins:
        origins[entry] = entry_point_origin(entry)
    return origins[entry]


def _load(entry: EntryPoint) -> PluginInfo:
    where = (entry.name, entry.value, _origin(entry))
    try:
        obj = entry.load()
    except Exception as e:  # any import failure of third-party code is reported, not raised
        warnings.warn(f"pipeline {entry.name!r} failed to load: {e!r}", stacklevel=2)
        return PluginInfo(*where, error=f"import failed: {e!r}")
    if not (isinstance(obj, type) and issubclass(obj, Pipeline)):
        return PluginInfo(*where, error=f"{entry.value} is not a Pipeline subclass")
    if getattr(obj, "name", None) != entry.name:
        return PluginInfo(
            *where,
            error=f"{entry.value} calls itself {getattr(obj, 'name', None)!r} but is "
            f"registered as {entry.name!r}; the two must match",
        )
    return PluginInfo(*where, pipeline=obj)


def discover() -> dict[str, PluginInfo]:
    """Every pipeline declared in the environment, by name.

    Raises
    ------
    PluginError
        If two distributions declare the same name.
    """
    found: dict[str, PluginInfo] = {}
    for entry in declared():
        first = found.get(entry.name)
        if first is not None and first.target != entry.value:
            raise PluginError(
                f"two pipelines are named {entry.name!r}: {first.target} from "
                f"{first.distribution} and {entry.value} from {_origin(entry)}; "
                "uninstall one"
            )
        found[entry.name] = _load(entry)
    return found


def get_pipeline(name: str) -> type[Pipeline[Any]]:
    """The pipeline class declared under ``name``.

    Raises
    ------
    NotFoundError
        If no pipeline has that name.
    PluginError
        If the pipeline is declared but does not load (with the reason), or two
        distributions declare the name.
    """
    matches = [e for e in declared() if e.name == name]
    if not matches:
        installed = ", ".join(sorted({e.name for e in declared()})) or "none"
        raise NotFoundError(f"no pipeline named {name!r}; installed: {installed}")
    if len({e.value for e in matches}) > 1:
        discover()  # raises the clash, naming both distributions
    plugin = _load(matches[0])  # only this plugin is imported
    if plugin.pipeline is None:
        raise PluginError(
            f"pipeline {name!r} cannot be used: {plugin.error}; fix or reinstall "
            f"{plugin.distribution}, which declares it"
        )
    return plugin.pipeline
