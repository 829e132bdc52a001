"""Finding pipelines through the entry-point group ``azuraforge.pipelines``.

Built-ins are declared in AzuraForge's own ``pyproject.toml`` exactly as a third-party
package declares its own. Loading is lazy; a plugin that fails to import is recorded with
its error (shown by ``azuraforge pipelines``) instead of breaking startup.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
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


def _load(entry: EntryPoint) -> PluginInfo:
    where = (entry.name, entry.value, entry_point_origin(entry))
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
    for entry in entry_points(group=GROUP):
        first = found.get(entry.name)
        if first is not None and first.target != entry.value:
            raise PluginError(
                f"two pipelines are named {entry.name!r}: {first.target} from "
                f"{first.distribution} and {entry.value} from {entry_point_origin(entry)}; "
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
    matches = [e for e in entry_points(group=GROUP) if e.name == name]
    if not matches:
        installed = ", ".join(sorted({e.name for e in entry_points(group=GROUP)})) or "none"
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
