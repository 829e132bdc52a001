"""Finding pipelines through the entry-point group ``azuraforge.pipelines``.

Built-ins are declared in AzuraForge's own ``pyproject.toml`` exactly as a third-party
package declares its own. Loading is lazy; a plugin that fails to import is recorded with
its error (shown by ``azuraforge pipelines``) instead of breaking startup. Reading, caching
and loading the group is :class:`azuraforge.learn.plugins.PluginGroup`'s work, shared with
the stream's sources; a pipeline must also call itself by the name it is declared under.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Any

from azuraforge.apps.base import Pipeline
from azuraforge.learn.plugins import Plugin, PluginGroup, named_as_declared

GROUP = "azuraforge.pipelines"


@dataclass(frozen=True)
class PluginInfo:
    """One declared pipeline: where it comes from and whether it loaded."""

    name: str
    target: str
    distribution: str
    pipeline: type[Pipeline[Any]] | None = None
    error: str = ""


_PIPELINES: PluginGroup[Pipeline[Any]] = PluginGroup(
    GROUP, "pipeline", Pipeline, check=named_as_declared
)


def declared() -> tuple[EntryPoint, ...]:
    """The entry points of group ``azuraforge.pipelines``, read again only when ``sys.path``
    or a folder on it changed. A worker calls it before forking each run, whose process then
    finds its pipeline without reading the installed distributions.

    >>> "weather-forecaster" in {entry.name for entry in declared()}
    True
    """
    return _PIPELINES.declared()


def _info(plugin: Plugin[Pipeline[Any]]) -> PluginInfo:
    return PluginInfo(plugin.name, plugin.target, plugin.distribution, plugin.loaded, plugin.error)


def discover() -> dict[str, PluginInfo]:
    """Every pipeline declared in the environment, by name.

    Raises
    ------
    PluginError
        If two distributions declare the same name.
    """
    return {name: _info(plugin) for name, plugin in _PIPELINES.discover().items()}


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
    return _PIPELINES.get(name)
