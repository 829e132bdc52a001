"""Finding the assistant's backends through the entry-point group ``azuraforge.backends``.

A package that ships a text generator declares its :class:`~azuraforge.assist.backends.base.
Backend` subclass there under the name its declarations use as their *kind*, and AzuraForge
declares its own the same way::

    [project.entry-points."azuraforge.backends"]
    llama = "azuraforge.assist.backends.llama:LlamaCppBackend"
    transformers = "azuraforge.assist.backends.transformers:TransformersBackend"
    openai = "azuraforge.assist.backends.openai:OpenAICompatibleBackend"
    echo = "azuraforge.assist.backends.echo:EchoBackend"

A file of the plugin folder declares one as it declares a pipeline
(``azuraforge_plugins = {"azuraforge.backends": {"shout": ShoutBackend}}``). Loading is lazy
and fault-tolerant as for pipelines (:class:`azuraforge.learn.plugins.PluginGroup`): only the
kind asked for is imported, and an optional extra a built-in needs (llama-cpp-python,
transformers) is imported when the backend is built, with the message naming the extra. A
declared class that is not a ``Backend`` is refused with a warning naming it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from importlib.metadata import EntryPoint
from typing import Any

from azuraforge.assist.backends.base import Backend, BackendSpec
from azuraforge.errors import InvalidParameterError
from azuraforge.learn.plugins import Plugin, PluginGroup

GROUP = "azuraforge.backends"


def _a_backend(entry: EntryPoint, plugin: type[Any]) -> str:
    """Refuse, with a warning naming it, a declared class that is not a :class:`Backend`."""
    if issubclass(plugin, Backend):
        return ""
    refused = f"{entry.value} is not a Backend subclass"
    warnings.warn(f"backend kind {entry.name!r} is refused: {refused}", stacklevel=4)
    return refused


# object, not Backend: a class that is not one reaches _a_backend, which warns.
_BACKENDS: PluginGroup[Backend] = PluginGroup(GROUP, "backend kind", object, check=_a_backend)


def declared() -> tuple[EntryPoint, ...]:
    """The entry points of group ``azuraforge.backends`` (nothing is imported).

    >>> sorted(entry.name for entry in declared())[:4]
    ['echo', 'llama', 'openai', 'transformers']
    """
    return _BACKENDS.declared()


def backend_kinds() -> list[str]:
    """The kinds a backend may be declared with, in name order (nothing is imported)."""
    return sorted({entry.name for entry in declared()})


def discover() -> dict[str, Plugin[Backend]]:
    """Every backend kind declared in the environment and the plugin folder, by name: its
    class (``loaded``), or why it did not load (``error``; a warning too).

    Raises
    ------
    PluginError
        If two distributions declare the same name.

    Examples
    --------
    >>> plugin = discover()["echo"]
    >>> plugin.target, plugin.loaded.__name__, plugin.error
    ('azuraforge.assist.backends.echo:EchoBackend', 'EchoBackend', '')
    """
    return _BACKENDS.discover()


def backend_class(kind: str) -> type[Backend]:
    """The backend class declared under ``kind``; only that plugin is imported.

    Raises
    ------
    NotFoundError
        If no backend has that kind (the message lists those there are).
    PluginError
        If it is declared but does not load or is not a ``Backend`` (with the reason).

    Examples
    --------
    >>> backend_class("openai").__name__
    'OpenAICompatibleBackend'
    """
    return _BACKENDS.get(kind)


def check_kinds(declarations: Iterable[tuple[str, str]]) -> None:
    """Check each ``(name, kind)`` declaration names a kind there is (nothing is imported).

    Raises
    ------
    InvalidParameterError
        Naming the first declaration whose kind no package or plugin file declares, and the
        kinds there are.

    Examples
    --------
    >>> check_kinds([("local", "llama"), ("loud", "shout")])
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: assist backend 'loud' is of kind 'shout', which ...
    """
    kinds = backend_kinds()
    for name, kind in declarations:
        if kind not in kinds:
            raise InvalidParameterError(
                f"assist backend {name!r} is of kind {kind!r}, which no installed package or "
                f"plugin file declares; the kinds there are: {', '.join(kinds)} (a plugin "
                f"declares one in the entry-point group {GROUP})"
            )


def build(spec: BackendSpec) -> Backend:
    """The backend ``spec`` declares, built by its kind's :meth:`Backend.from_spec`.

    Raises
    ------
    NotFoundError
        If no backend has ``spec.kind`` (the message lists those there are).
    PluginError
        If the kind is declared but does not load.
    ModelUnavailableError
        When what the backend needs (an optional extra, its model) is not installed.

    Examples
    --------
    >>> from azuraforge.assist.backends import Message
    >>> build(BackendSpec("echo")).generate([Message("user", "merhaba")])
    'echo: merhaba'
    """
    return backend_class(spec.kind).from_spec(spec)
