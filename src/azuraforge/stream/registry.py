"""Finding sources through the entry-point group ``azuraforge.sources``.

A package that ships a source (a broker's feed, a message queue) declares its
:class:`~azuraforge.stream.base.Source` subclass there, and AzuraForge declares its own the
same way::

    [project.entry-points."azuraforge.sources"]
    csv-replay = "azuraforge.stream.sources:CsvReplay"
    file-tail = "azuraforge.stream.tail:FileTail"
    http-poller = "azuraforge.stream.polling:HttpPoller"

Loading is lazy and fault-tolerant as for pipelines (:class:`azuraforge.learn.plugins.
PluginGroup`): a source that fails to import is recorded with its error, not raised, until
it is asked for by name.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint

from azuraforge.learn.plugins import Plugin, PluginGroup
from azuraforge.stream.base import Source

GROUP = "azuraforge.sources"

_SOURCES: PluginGroup[Source] = PluginGroup(GROUP, "source", Source)


def declared() -> tuple[EntryPoint, ...]:
    """The entry points of group ``azuraforge.sources`` (nothing is imported).

    >>> sorted(entry.name for entry in declared())[:3]
    ['csv-replay', 'file-tail', 'http-poller']
    """
    return _SOURCES.declared()


def discover() -> dict[str, Plugin[Source]]:
    """Every source declared in the environment, by name: its class (``loaded``), or why it
    did not load (``error``).

    Raises
    ------
    PluginError
        If two distributions declare the same name.

    Examples
    --------
    >>> plugin = discover()["file-tail"]
    >>> plugin.target, plugin.loaded.__name__, plugin.error
    ('azuraforge.stream.tail:FileTail', 'FileTail', '')
    """
    return _SOURCES.discover()


def get_source(name: str) -> type[Source]:
    """The source class declared under ``name``; only that plugin is imported.

    Raises
    ------
    NotFoundError
        If no source has that name (the message lists those installed).
    PluginError
        If the source is declared but does not load (with the reason), or two distributions
        declare the name.

    Examples
    --------
    >>> get_source("http-poller").__name__
    'HttpPoller'
    """
    return _SOURCES.get(name)
