"""Save a module with its architecture, and load it back without the code that built it.

One ``.npz`` file holds every parameter and buffer by name, plus a JSON header with the
format version and the architecture: for each module its registered architecture name
(:func:`azuraforge.core.nn.register_architecture`) and its constructor arguments by keyword
(recorded by :class:`~azuraforge.core.nn.Module`); child modules nest. Loading looks names up
in the registry and never imports anything a file names; nothing is unpickled.

Format 1 (AzuraForge 0.1) stored ``module:qualname`` import paths and positional arguments.
Such a file still loads when its path is, as text, the import path of a registered class or
the value of an ``azuraforge.architectures`` entry point; otherwise it is refused.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from azuraforge import __version__
from azuraforge.core.nn.layers import Sequential
from azuraforge.core.nn.module import Module, named_arguments
from azuraforge.core.nn.registry import (
    find_architecture_by_path,
    find_architecture_name,
    get_architecture,
    how_to_register,
)
from azuraforge.core.random import fork_rng
from azuraforge.errors import InvalidParameterError, NotFoundError, SchemaMismatchError

FORMAT = "azuraforge.module"
FORMAT_VERSION = 2
_HEADER = "__azuraforge__"
# Built-in classes renamed since format 1 recorded their import paths.
_FORMAT1_RENAMED = {
    "azuraforge.core.nn.conv:Conv2D": "Conv2d",
    "azuraforge.core.nn.conv:MaxPool2D": "MaxPool2d",
    "azuraforge.core.nn.conv:AvgPool2D": "AvgPool2d",
}


def _encode(value: Any, where: str) -> Any:
    if isinstance(value, Module):
        return {"module": module_config(value)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise InvalidParameterError(
        f"cannot save {where}: it is of type {type(value).__name__}, not a number, string, "
        "bool, None, list, tuple or Module"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "module" in value:
        return build_module(value["module"])
    if isinstance(value, dict) and "tuple" in value:
        return tuple(_decode(v) for v in value["tuple"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def module_config(module: Module) -> dict[str, Any]:
    """The architecture of ``module``: its registered name and keyword arguments.

    Raises
    ------
    InvalidParameterError
        If the class is not a registered architecture, or an argument is not JSON-like.

    Examples
    --------
    >>> from azuraforge.core import nn
    >>> module_config(nn.Linear(2, 1))
    {'name': 'Linear', 'kwargs': {'in_features': 2, 'out_features': 1, 'bias': True}}
    """
    cls = type(module)
    name = find_architecture_name(cls)
    if name is None:
        raise InvalidParameterError(
            f"cannot save {cls.__name__}: it is not a registered architecture (files name "
            f"architectures, never import paths); {how_to_register(cls.__name__, cls.__name__)}"
        )
    arguments = module._init_arguments or {}
    where = f"{cls.__name__} argument"
    return {"name": name, "kwargs": {k: _encode(v, f"{where} {k}") for k, v in arguments.items()}}


def _check_config(config: Any, version: int) -> None:
    """Raise unless ``config`` has the shape a module's entry has in format ``version``."""
    fields: dict[str, type] = {"name": str} if version > 1 else {"class": str, "args": list}
    fields["kwargs"] = dict
    if not isinstance(config, dict) or not all(
        isinstance(config.get(key), kind) for key, kind in fields.items()
    ):
        raise SchemaMismatchError(
            f"damaged model header: a module entry needs {sorted(fields)}, got {config!r:.200}"
        )


def _call_arguments(cls: type[Module], named: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Split arguments by name into a call: parameters up to ``*args`` go by position."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    positional_kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL)
    if not any(p.kind in positional_kinds for p in parameters):
        return [], named
    args, kwargs = [], dict(named)
    for parameter in parameters:
        if parameter.kind == inspect.Parameter.VAR_POSITIONAL:
            args.extend(kwargs.pop(parameter.name, []))
            break
        if parameter.kind == inspect.Parameter.KEYWORD_ONLY or parameter.name not in kwargs:
            break
        args.append(kwargs.pop(parameter.name))
    return args, kwargs


def build_module(config: dict[str, Any]) -> Module:
    """A freshly initialised module from :func:`module_config`'s output.

    Raises
    ------
    NotFoundError
        If the architecture name is not registered.
    SchemaMismatchError
        If the saved arguments no longer fit the registered class.
    """
    _check_config(config, FORMAT_VERSION)
    cls = get_architecture(config["name"])
    named = {k: _decode(v) for k, v in config["kwargs"].items()}
    args, kwargs = _call_arguments(cls, named)
    try:
        return cls(*args, **kwargs)
    except TypeError as e:
        raise SchemaMismatchError(
            f"the saved arguments no longer fit architecture {config['name']!r}: {e}; the "
            "class changed since the file was written"
        ) from e


# ---- format 1: import paths and positional arguments --------------------------------------
def _format1_class(path: str, source: Path) -> type[Module]:
    renamed = _FORMAT1_RENAMED.get(path)
    cls = get_architecture(renamed) if renamed else find_architecture_by_path(path)
    if cls is None:
        class_name = path.partition(":")[2] or path
        raise NotFoundError(
            f"{source} is a format-1 file naming class {path!r}, which is not a registered "
            "architecture, and a file never chooses what is imported. If you trust it, "
            f"register the class ({how_to_register(class_name, class_name)}), then load the "
            "file and save() it again to write the current format"
        )
    return cls


def _upgrade(value: Any, source: Path) -> Any:
    if isinstance(value, dict) and "module" in value:
        return {"module": _upgrade_config(value["module"], source)}
    if isinstance(value, dict) and "tuple" in value:
        return {"tuple": [_upgrade(v, source) for v in value["tuple"]]}
    if isinstance(value, list):
        return [_upgrade(v, source) for v in value]
    return value


def _upgrade_config(config: dict[str, Any], source: Path) -> dict[str, Any]:
    """A format-1 architecture as format 2: names for paths, keywords for positions."""
    _check_config(config, 1)
    cls = _format1_class(config["class"], source)
    args = tuple(_upgrade(a, source) for a in config["args"])
    kwargs = {k: _upgrade(v, source) for k, v in config["kwargs"].items()}
    try:
        named = named_arguments(inspect.signature(cls.__init__), args, kwargs)
    except TypeError as e:
        raise SchemaMismatchError(
            f"{source}: the saved arguments of {config['class']} no longer fit it: {e}"
        ) from e
    return {"name": find_architecture_name(cls), "kwargs": named}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _format1_prefixes(module: Module, new: str = "", old: str = "") -> Iterator[tuple[str, str]]:
    """(current, format-1) name of every sub-module: Sequential children were ``layers.i``."""
    yield new, old
    for name, child in module.named_children():
        legacy = f"layers.{name}" if isinstance(module, Sequential) else name
        yield from _format1_prefixes(child, _join(new, name), _join(old, legacy))


def _format1_state(module: Module, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``state`` with format-1 keys (``layers.0.weight``) renamed to current ones."""
    prefixes = sorted(_format1_prefixes(module), key=lambda p: -len(p[1]))
    renamed = {}
    for key, array in state.items():
        new, old = next((n, o) for n, o in prefixes if not o or key.startswith(o + "."))
        renamed[_join(new, key[len(old) + 1 :] if old else key)] = array
    return renamed


def save(module: Module, path: str | os.PathLike[str]) -> Path:
    """Write ``module``'s architecture and weights to ``path`` (``.npz``), atomically.

    Returns
    -------
    Path
        The file written (``.npz`` is appended when missing).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from azuraforge.core import nn, manual_seed
    >>> manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> path = save(model, pathlib.Path(tempfile.mkdtemp()) / "model")
    >>> restored = load(path)
    >>> restored
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): ReLU()
      (2): Linear(in_features=3, out_features=1, bias=True)
    )
    """
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "azuraforge_version": __version__,
        "training": module.training,
        "architecture": module_config(module),
    }
    arrays: dict[str, Any] = module.state_dict()
    if _HEADER in arrays:
        raise InvalidParameterError(f"a parameter may not be named {_HEADER!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target, then rename: a crash never leaves a half-written model.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, {_HEADER: np.array(json.dumps(header)), **arrays})
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; use the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _write_npz(f: IO[bytes], arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed ``.npz`` that ``np.load`` reads; any array name is allowed."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _read_header(archive: Any, path: Path) -> dict[str, Any]:
    if _HEADER not in archive.files:
        raise SchemaMismatchError(f"{path} is not an AzuraForge model file (no {_HEADER} header)")
    try:
        header = json.loads(str(archive[_HEADER]))
    except (ValueError, RecursionError) as e:  # RecursionError: absurdly deep nesting
        raise SchemaMismatchError(f"{path} has a damaged model header: {e}") from e
    if not isinstance(header, dict):
        raise SchemaMismatchError(f"{path} has a damaged model header: not a JSON object")
    if header.get("format") != FORMAT or header.get("format_version", 0) > FORMAT_VERSION:
        raise SchemaMismatchError(
            f"{path} has format {header.get('format')!r} version {header.get('format_version')}; "
            f"this AzuraForge reads {FORMAT!r} up to version {FORMAT_VERSION}: upgrade azuraforge"
        )
    if not isinstance(header.get("architecture"), dict):
        raise SchemaMismatchError(f"{path} has a damaged model header: no architecture")
    return header


def _resolve(path: str | os.PathLike[str]) -> Path:
    source = Path(path)
    if not source.exists() and source.suffix != ".npz":
        source = source.with_name(source.name + ".npz")  # the name save() was given
    if not source.exists():
        raise NotFoundError(f"no model file at {Path(path)}")
    return source


def load(path: str | os.PathLike[str]) -> Module:
    """Rebuild the module saved at ``path`` and restore its weights and train/eval mode.

    Raises
    ------
    NotFoundError
        If the file does not exist, or names an architecture that is not registered.
    SchemaMismatchError
        If the file is not an AzuraForge model, is newer than this version, or its saved
        arguments no longer fit the registered class.
    PluginError
        If the entry point declaring an architecture it names cannot be loaded.
    """
    source = _resolve(path)
    try:
        archive = np.load(source, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise SchemaMismatchError(f"{source} is not a readable .npz model file: {e}") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise SchemaMismatchError(f"{source} holds a single array, not an AzuraForge model")
    with archive:
        header = _read_header(archive, source)
        state = {name: archive[name] for name in archive.files if name != _HEADER}
    format1 = header["format_version"] == 1
    architecture = header["architecture"]
    try:
        with fork_rng():  # building draws initial weights; the caller's stream stays put
            module = build_module(
                _upgrade_config(architecture, source) if format1 else architecture
            )
    except RecursionError as e:
        raise SchemaMismatchError(f"{source} nests modules too deeply to rebuild") from e
    if format1:
        state = _format1_state(module, state)
    own = dict([*module.named_parameters(), *module.named_buffers()])
    for name, array in state.items():  # each tensor gets back the dtype it was saved with
        if name in own and own[name].data.dtype != array.dtype:
            own[name].data = own[name].data.astype(array.dtype)
    module.load_state_dict(state)
    module.train(bool(header.get("training", False)))
    return module
