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
import math
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from azuraforge import __version__
from azuraforge.core.nn import init
from azuraforge.core.nn.layers import Sequential
from azuraforge.core.nn.module import Module, named_arguments
from azuraforge.core.nn.registry import (
    find_architecture_by_path,
    find_architecture_name,
    get_architecture,
    how_to_register,
)
from azuraforge.core.random import Generator, use_generator
from azuraforge.errors import (
    AllocationLimitError,
    InvalidParameterError,
    NotFoundError,
    SchemaMismatchError,
)

FORMAT = "azuraforge.module"
FORMAT_VERSION = 2
_HEADER = "__azuraforge__"
_NPY_MAGIC = b"\x93NUMPY"
_WHAT_LOAD_READS = "load reads the .npz files azuraforge.core.save writes"
_FLOATS = tuple(np.dtype(t) for t in (np.float16, np.float32, np.float64))
# Values building may create beyond those stored: a module may hold tensors it never saves.
_BUILD_SLACK = 1 << 20
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


def _map_modules(
    value: Any, on_module: Callable[[Any], Any], on_tuple: Callable[[list[Any]], Any]
) -> Any:
    """A saved argument with each ``{"module": config}`` replaced by ``on_module(config)``
    and each ``{"tuple": items}`` by ``on_tuple(items)``, inside lists and tuples too."""
    if isinstance(value, dict) and "module" in value:
        return on_module(value["module"])
    if isinstance(value, dict) and "tuple" in value:
        return on_tuple([_map_modules(v, on_module, on_tuple) for v in value["tuple"]])
    if isinstance(value, list):
        return [_map_modules(v, on_module, on_tuple) for v in value]
    return value


def _decode(value: Any) -> Any:
    return _map_modules(value, build_module, tuple)


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
    return _map_modules(
        value,
        lambda config: {"module": _upgrade_config(config, source)},
        lambda items: {"tuple": items},
    )


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


def _open_archive(source: Path) -> zipfile.ZipFile:
    try:
        with source.open("rb") as f:
            magic = f.read(len(_NPY_MAGIC))
        if magic == _NPY_MAGIC:
            raise SchemaMismatchError(
                f"{source} holds a single array, not an AzuraForge model; {_WHAT_LOAD_READS}"
            )
        return zipfile.ZipFile(source)
    except OSError as e:
        raise SchemaMismatchError(f"cannot read model file {source}: {e}") from e
    except (zipfile.BadZipFile, ValueError, EOFError) as e:
        raise SchemaMismatchError(
            f"{source} is not a readable .npz model file ({e}); {_WHAT_LOAD_READS}"
        ) from e


def _member_header(member: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """The shape, Fortran order and dtype a ``.npy`` member declares."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(member)
    raise ValueError(f".npy version {version}, expected (1, 0) or (2, 0)")


def _check_member(where: str, shape: tuple[int, ...], dtype: np.dtype[Any], held: int) -> None:
    """Refuse a member holding objects, or declaring more data than the ``held`` bytes (which
    NumPy would allocate before finding out); ``where`` names the file and member."""
    if dtype.hasobject:
        raise SchemaMismatchError(
            f"{where} holds Python objects ({dtype}), which a model file never stores and "
            f"load never unpickles; {_WHAT_LOAD_READS}"
        )
    declared = math.prod(shape) * dtype.itemsize
    if declared > held:
        raise SchemaMismatchError(
            f"{where} claims shape {shape} of {dtype} ({declared:,} bytes) but holds "
            f"{held:,} bytes; the file is damaged"
        )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: Path) -> np.ndarray:
    """The array in member ``info``, checked before its data is read, in native byte order."""
    where = f"{source}: {info.filename.removesuffix('.npy')!r}"
    try:
        with archive.open(info) as member:
            shape, fortran, dtype = _member_header(member)
            _check_member(where, shape, dtype, info.file_size)
            size = math.prod(shape) * dtype.itemsize
            data = member.read(size)
        if len(data) < size:
            raise ValueError(f"its data ends after {len(data):,} of {size:,} bytes")
        array = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")
    except (ValueError, OSError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error) as e:
        raise SchemaMismatchError(
            f"{where} is not a readable array ({e}); the file is damaged"
        ) from e
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _read_arrays(archive: zipfile.ZipFile, source: Path) -> dict[str, np.ndarray]:
    """Every member by name; a member that is not a ``.npy`` array is refused."""
    arrays = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise SchemaMismatchError(
                f"{source} holds {info.filename!r}, which is not an array (.npy); "
                f"{_WHAT_LOAD_READS}"
            )
        arrays[info.filename.removesuffix(".npy")] = _read_member(archive, info, source)
    return arrays


def _parse_header(arrays: dict[str, np.ndarray], path: Path) -> dict[str, Any]:
    header_array = arrays.pop(_HEADER, None)
    if header_array is None:
        raise SchemaMismatchError(f"{path} is not an AzuraForge model file (no {_HEADER} header)")
    if header_array.dtype.kind != "U" or header_array.ndim != 0:
        raise SchemaMismatchError(f"{path} has a damaged model header: not a JSON text")
    try:
        header = json.loads(str(header_array))
    except (ValueError, RecursionError) as e:  # RecursionError: absurdly deep nesting
        raise SchemaMismatchError(f"{path} has a damaged model header: {e}") from e
    if not isinstance(header, dict):
        raise SchemaMismatchError(f"{path} has a damaged model header: not a JSON object")
    _check_version(header, path)
    if not isinstance(header.get("architecture"), dict):
        raise SchemaMismatchError(f"{path} has a damaged model header: no architecture")
    return header


def _check_version(header: dict[str, Any], path: Path) -> None:
    version = header.get("format_version")
    if header.get("format") != FORMAT or (isinstance(version, int) and version > FORMAT_VERSION):
        raise SchemaMismatchError(
            f"{path} has format {header.get('format')!r} version {version}; this AzuraForge "
            f"reads {FORMAT!r} up to version {FORMAT_VERSION}: upgrade azuraforge"
        )
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SchemaMismatchError(
            f"{path} has a damaged model header: format_version is {version!r}, expected an "
            f"integer from 1 to {FORMAT_VERSION}"
        )


def _resolve(path: str | os.PathLike[str]) -> Path:
    source = Path(path)
    if not source.exists() and source.suffix != ".npz":
        source = source.with_name(source.name + ".npz")  # the name save() was given
    if not source.exists():
        raise NotFoundError(f"no model file at {Path(path)}")
    return source


def _build(architecture: dict[str, Any], format1: bool, source: Path, stored: int) -> Module:
    """Build the recorded architecture, allocating at most a little more than ``stored``
    values, and from a throwaway generator: no random state another thread uses moves."""
    try:
        with use_generator(Generator(0)), init.allocation_limit(stored + _BUILD_SLACK):
            return build_module(_upgrade_config(architecture, source) if format1 else architecture)
    except AllocationLimitError as e:
        raise SchemaMismatchError(
            f"{source} describes a model of at least {e.requested:,} values but stores "
            f"{stored:,} values: refusing to build it, it would take far more memory than the "
            "file holds; the file is damaged or crafted"
        ) from e
    except MemoryError as e:
        raise SchemaMismatchError(
            f"not enough memory to build the model {source} describes ({e}); the file stores "
            f"{stored:,} values, so it is damaged or crafted"
        ) from e
    except RecursionError as e:
        raise SchemaMismatchError(f"{source} nests modules too deeply to rebuild") from e


def _check_dtype(name: str, array: np.ndarray, expected: np.dtype[Any], source: Path) -> None:
    """Refuse ``array`` unless it holds the kind of value the tensor ``name`` holds."""
    if expected.kind == "f":
        fits, wanted = array.dtype in _FLOATS, "float16, float32 or float64"
    elif expected.kind in "iu":
        fits, wanted = array.dtype.kind in "iu", "integers"
    else:
        fits, wanted = array.dtype == expected, str(expected)
    if not fits:
        raise SchemaMismatchError(
            f"{source}: {name!r} holds {array.dtype} values; the model keeps {wanted} there; "
            "the file is damaged or was not written by azuraforge.core.save"
        )


def _restore_weights(module: Module, state: dict[str, np.ndarray], source: Path) -> None:
    """Load ``state``, each tensor taking the dtype it was saved with."""
    own = dict([*module.named_parameters(), *module.named_buffers()])
    for name, array in state.items():
        if name in own:
            _check_dtype(name, array, own[name].data.dtype, source)
            if own[name].data.dtype != array.dtype:
                own[name].data = own[name].data.astype(array.dtype)
    module.load_state_dict(state)


def load(path: str | os.PathLike[str]) -> Module:
    """Rebuild the module saved at ``path`` and restore its weights and train/eval mode.

    The file is untrusted input: it never chooses what is imported, nothing is unpickled,
    building it may allocate little more than the arrays it stores, and each weight must
    hold the kind of number its tensor holds. Building draws initial weights from a
    throwaway generator, so no random stream moves, in this thread or another.

    Raises
    ------
    NotFoundError
        If the file does not exist, or names an architecture that is not registered.
    SchemaMismatchError
        If the file is not a readable AzuraForge model, is newer than this version, its
        saved arguments no longer fit the registered class, its architecture is far larger
        than its weights, or a weight has the wrong kind of values (text, objects, integers
        for a floating parameter).
    PluginError
        If the entry point declaring an architecture it names cannot be loaded.
    """
    source = _resolve(path)
    with _open_archive(source) as archive:
        state = _read_arrays(archive, source)
    header = _parse_header(state, source)
    format1 = header["format_version"] == 1
    stored = sum(array.size for array in state.values())
    module = _build(header["architecture"], format1, source, stored)
    if format1:
        state = _format1_state(module, state)
    _restore_weights(module, state, source)
    module.train(bool(header.get("training", False)))
    return module
