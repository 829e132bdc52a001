"""Save a module with its architecture, and load it back without the code that built it.

One ``.npz`` file holds every parameter and buffer by name, plus a JSON header with the
format version and the architecture: for each module its importable class and the arguments
it was constructed with (recorded by :class:`~azuraforge.core.nn.Module`). Built-in layers
rebuild from the file alone; a user-defined module needs its class importable under the same
name, as with ``pickle``, but nothing is unpickled: the file holds only arrays and JSON.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from azuraforge import __version__
from azuraforge.core.nn.module import Module
from azuraforge.core.random import fork_rng
from azuraforge.errors import InvalidParameterError, NotFoundError, SchemaMismatchError

FORMAT = "azuraforge.module"
FORMAT_VERSION = 1
_HEADER = "__azuraforge__"


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
    """The architecture of ``module``: importable class path and constructor arguments.

    Raises
    ------
    InvalidParameterError
        If the class cannot be imported by name (defined inside a function) or an argument
        is not JSON-like.
    """
    cls = type(module)
    path = f"{cls.__module__}:{cls.__qualname__}"
    try:
        importable = _import_class(path) is cls
    except (NotFoundError, SchemaMismatchError):
        importable = False
    if not importable:
        raise InvalidParameterError(
            f"cannot save {cls.__name__}: its class is not importable as {path!r}; define it at "
            "the top level of a module so load() can find it"
        )
    args, kwargs = module._init_args or ((), {})
    names = _positional_names(cls, len(args))
    return {
        "class": path,
        "args": [
            _encode(a, f"{cls.__name__} argument {n}") for n, a in zip(names, args, strict=True)
        ],
        "kwargs": {k: _encode(v, f"{cls.__name__} argument {k}") for k, v in kwargs.items()},
    }


def _positional_names(cls: type[Module], count: int) -> list[str]:
    """Names of the first ``count`` positional arguments (``layers[2]`` for ``*layers``)."""
    names: list[str] = []
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind == parameter.VAR_POSITIONAL:
            names += [f"{parameter.name}[{i}]" for i in range(count - len(names))]
        elif parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            names.append(parameter.name)
    return names[:count]


def _import_class(path: str) -> type[Module]:
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise NotFoundError(
            f"the saved model needs class {path!r}, which cannot be imported ({e}); install or "
            "import the package that defines it"
        ) from e
    if not isinstance(obj, type) or not issubclass(obj, Module):
        raise SchemaMismatchError(f"{path!r} in the saved file is not an nn.Module subclass")
    return obj


def build_module(config: dict[str, Any]) -> Module:
    """A freshly initialised module from :func:`module_config`'s output."""
    cls = _import_class(config["class"])
    args = [_decode(a) for a in config["args"]]
    kwargs = {k: _decode(v) for k, v in config["kwargs"].items()}
    try:
        return cls(*args, **kwargs)
    except TypeError as e:
        raise SchemaMismatchError(
            f"the saved arguments no longer fit {config['class']}: {e}; the class changed "
            "since the file was written"
        ) from e


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
      (layers.0): Linear(in_features=2, out_features=3, bias=True)
      (layers.1): ReLU()
      (layers.2): Linear(in_features=3, out_features=1, bias=True)
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
        header: dict[str, Any] = json.loads(str(archive[_HEADER]))
    except ValueError as e:
        raise SchemaMismatchError(f"{path} has a damaged model header: {e}") from e
    if header.get("format") != FORMAT or header.get("format_version", 0) > FORMAT_VERSION:
        raise SchemaMismatchError(
            f"{path} has format {header.get('format')!r} version {header.get('format_version')}; "
            f"this AzuraForge reads {FORMAT!r} up to version {FORMAT_VERSION}: upgrade azuraforge"
        )
    architecture = header.get("architecture")
    if not isinstance(architecture, dict) or not {"class", "args", "kwargs"} <= set(architecture):
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
        If the file or a class it names does not exist.
    SchemaMismatchError
        If the file is not an AzuraForge model or is newer than this version.
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
    with fork_rng():  # building draws initial weights; the caller's random stream stays put
        module = build_module(header["architecture"])
    own = dict([*module.named_parameters(), *module.named_buffers()])
    for name, array in state.items():  # each tensor gets back the dtype it was saved with
        if name in own and own[name].data.dtype != array.dtype:
            own[name].data = own[name].data.astype(array.dtype)
    module.load_state_dict(state)
    module.train(bool(header.get("training", False)))
    return module
