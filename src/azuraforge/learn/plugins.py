"""Plugins declared in an entry-point group: read lazily, loaded one at a time, failures recorded.

What the registries of pipelines (:mod:`azuraforge.apps.registry`) and of stream sources
(:mod:`azuraforge.stream.registry`) share. Built-ins are declared in AzuraForge's own
``pyproject.toml`` exactly as a third-party package declares its own. A plugin that fails to
import is recorded with its error (and a warning) instead of breaking startup; two
distributions declaring one name is an error naming both.

A group's plugins also come from the plugin folder an administrator configures
(:mod:`azuraforge.learn.plugin_folder`): its files' declarations are entry points of the same
groups, loaded and checked here as an installed distribution's are.

A group's declarations are read once and kept until ``sys.path`` or a folder on it changes
(a distribution installed or removed adds or deletes a folder there): reading every
installed distribution's entry points takes a few milliseconds.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from azuraforge.core.nn.registry import entry_point_origin
from azuraforge.errors import NotFoundError, PluginError
from azuraforge.learn.plugin_folder import folder_entries, folder_origin

T = TypeVar("T")


@dataclass(frozen=True)
class Plugin(Generic[T]):
    """One declared plugin: its name, the ``module:Class`` it points to, the distribution
    that declares it, and the class it loaded as, or why it did not (``error``)."""

    name: str
    target: str
    distribution: str
    loaded: type[T] | None = None
    error: str = ""


@dataclass
class _Declarations:
    """A group's entry points as read under one state of the import path."""

    path_state: tuple[tuple[str, int | None], ...]
    entries: tuple[EntryPoint, ...]
    origins: dict[EntryPoint, str] = field(default_factory=dict)


class PluginGroup(Generic[T]):
    """The plugins of one entry-point group, each a subclass of ``base``.

    Parameters
    ----------
    group
        The entry-point group (``"azuraforge.pipelines"``).
    kind
        What a plugin is called in messages (``"pipeline"``).
    base
        The class every plugin must subclass.
    check
        More checks of a loaded class, given its entry point: a reason to refuse it, or
        ``""`` to take it. None: no more checks.

    Examples
    --------
    >>> pipelines = PluginGroup("azuraforge.pipelines", "pipeline", object)
    >>> "weather-forecaster" in {entry.name for entry in pipelines.declared()}
    True
    >>> pipelines.get("wether")
    Traceback (most recent call last):
    ...
    azuraforge.errors.NotFoundError: no pipeline named 'wether'; installed: ...
    """

    def __init__(
        self,
        group: str,
        kind: str,
        base: type[Any],  # NOTE: not type[T]: mypy refuses an abstract class there
        check: Callable[[EntryPoint, type[T]], str] | None = None,
    ) -> None:
        self.group, self.kind, self.base, self.check = group, kind, base, check
        self._read: _Declarations | None = None

    def declared(self) -> tuple[EntryPoint, ...]:
        """The group's entry points, read again only when ``sys.path`` or a folder on it
        changed (nothing is imported), then those of the plugin folder's files."""
        return self._declarations().entries + folder_entries(self.group)

    def origin(self, entry: EntryPoint) -> str:
        """The distribution that declares ``entry``, as ``"name version"``."""
        origins = self._declarations().origins
        if entry not in origins and (in_folder := folder_origin(entry)) is not None:
            return in_folder
        if entry not in origins:
            origins[entry] = entry_point_origin(entry)
        return origins[entry]

    def load(self, entry: EntryPoint) -> Plugin[T]:
        """Import what ``entry`` names; a failure is recorded in the result (and warned
        about), never raised."""
        where = (entry.name, entry.value, self.origin(entry))
        try:
            obj = entry.load()
        except Exception as e:  # any import failure of third-party code is reported, not raised
            warnings.warn(f"{self.kind} {entry.name!r} failed to load: {e!r}", stacklevel=3)
            return Plugin(*where, error=f"import failed: {e!r}")
        if not (isinstance(obj, type) and issubclass(obj, self.base)):
            return Plugin(*where, error=f"{entry.value} is not a {self.base.__name__} subclass")
        refused = self.check(entry, obj) if self.check is not None else ""
        return Plugin(*where, error=refused) if refused else Plugin(*where, loaded=obj)

    def discover(self) -> dict[str, Plugin[T]]:
        """Every plugin declared in the environment, by name, each loaded.

        Raises
        ------
        PluginError
            If two distributions declare the same name.
        """
        found: dict[str, Plugin[T]] = {}
        for entry in self.declared():
            first = found.get(entry.name)
            if first is not None and first.target != entry.value:
                raise PluginError(
                    f"two {self.kind}s are named {entry.name!r}: {first.target} from "
                    f"{first.distribution} and {entry.value} from {self.origin(entry)}; "
                    "uninstall one"
                )
            found[entry.name] = self.load(entry)
        return found

    def get(self, name: str) -> type[T]:
        """The class declared under ``name``; only that plugin is imported.

        Raises
        ------
        NotFoundError
            If no plugin has that name (the message lists those installed).
        PluginError
            If the plugin is declared but does not load (with the reason), or two
            distributions declare the name.
        """
        matches = [entry for entry in self.declared() if entry.name == name]
        if not matches:
            installed = ", ".join(sorted({e.name for e in self.declared()})) or "none"
            raise NotFoundError(f"no {self.kind} named {name!r}; installed: {installed}")
        if len({entry.value for entry in matches}) > 1:
            self.discover()  # raises the clash, naming both distributions
        plugin = self.load(matches[0])
        if plugin.loaded is None:
            raise PluginError(
                f"{self.kind} {name!r} cannot be used: {plugin.error}; fix or reinstall "
                f"{plugin.distribution}, which declares it"
            )
        return plugin.loaded

    def _declarations(self) -> _Declarations:
        state = _path_state()
        if self._read is None or self._read.path_state != state:
            self._read = _Declarations(state, tuple(entry_points(group=self.group)))
        return self._read


def named_as_declared(entry: EntryPoint, plugin: type[Any]) -> str:
    """A :class:`PluginGroup` check: a plugin must call itself (its ``name``) by the name it
    is declared under; the reason to refuse it, or ``""``.

    Examples
    --------
    >>> class Forecaster:
    ...     name = "forecaster"
    >>> entry = EntryPoint("forecast", "pkg:Forecaster", "azuraforge.pipelines")
    >>> named_as_declared(entry, Forecaster)
    "pkg:Forecaster calls itself 'forecaster' but is registered as 'forecast'; the two must match"
    """
    called = getattr(plugin, "name", None)
    if called == entry.name:
        return ""
    return (
        f"{entry.value} calls itself {called!r} but is registered as {entry.name!r}; the two "
        "must match"
    )


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
