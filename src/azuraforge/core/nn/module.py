"""`Module` and `Parameter`: the containers every layer is built from.

A module finds its parameters by walking its attributes (no register calls): every
``Parameter`` attribute is a parameter, every other ``Tensor`` attribute a buffer (running
statistics), every ``Module`` attribute or list of modules a child. Each module also records
the arguments it was constructed with, by name, so :func:`azuraforge.core.save` can store the
architecture and :func:`azuraforge.core.load` rebuild it without the code that built it (a
class of your own needs a name: :func:`azuraforge.core.nn.register_architecture`). Calling a
module with a NumPy array as its first argument first turns the array into a ``Tensor``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np

from azuraforge.core.tensor import Tensor
from azuraforge.errors import InvalidParameterError, NotFoundError, ShapeError


class Parameter(Tensor):
    """A tensor that a module trains: ``requires_grad`` is on, floating dtypes are kept, and
    the data is copied, so training never changes the array it was made from.

    Examples
    --------
    >>> Parameter(np.zeros(2)).dtype
    dtype('float64')
    """

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        raw = data.data if isinstance(data, Tensor) else data
        dtype = raw.dtype if isinstance(raw, np.ndarray) and raw.dtype.kind == "f" else None
        super().__init__(np.array(raw, dtype=dtype, copy=True), requires_grad, dtype)


def named_arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Constructor arguments by parameter name, defaults filled in: a var-positional
    parameter (``*layers``) as a list under its name, var-keyword ones merged in.

    Raises
    ------
    TypeError
        If the arguments do not fit ``signature`` (whose first parameter is ``self``).
    """
    bound = signature.bind(None, *args, **kwargs)
    bound.apply_defaults()
    named: dict[str, Any] = {}
    for name, value in list(bound.arguments.items())[1:]:
        kind = signature.parameters[name].kind
        if kind == inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        else:
            named[name] = list(value) if kind == inspect.Parameter.VAR_POSITIONAL else value
    return named


def _recording(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap ``__init__`` so the outermost call records its arguments by name."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: Module, *args: Any, **kwargs: Any) -> None:
        outermost = "_init_arguments" not in self.__dict__
        if outermost:
            self.__dict__["_init_arguments"] = None
        init(self, *args, **kwargs)
        if outermost:
            named = named_arguments(signature, args, kwargs)
            self.__dict__["_init_arguments"] = self._recorded_arguments(named)

    return wrapper


class Module:
    """Base class of layers and models: override ``forward`` and assign parameters and
    sub-modules as attributes. Register a model class with
    :func:`~azuraforge.core.nn.register_architecture` to save it.

    Examples
    --------
    >>> from azuraforge.core import nn
    >>> class TwoLayer(nn.Module):
    ...     def __init__(self, hidden: int):
    ...         self.first = nn.Linear(3, hidden)
    ...         self.second = nn.Linear(hidden, 1)
    ...     def forward(self, x):
    ...         return self.second(self.first(x).relu())
    >>> model = TwoLayer(4)
    >>> [name for name, _ in model.named_parameters()]
    ['first.weight', 'first.bias', 'second.weight', 'second.bias']
    """

    training: bool = True
    _init_arguments: dict[str, Any] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def _recorded_arguments(self, named: dict[str, Any]) -> dict[str, Any]:
        """The constructor arguments to record (for ``repr`` and :func:`azuraforge.core.save`)
        from those given by name: as given, unless a class accepting an old spelling records
        the current one."""
        return named

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the output; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], np.ndarray):
            args = (self._input_tensor(args[0]), *args[1:])
        return self.forward(*args, **kwargs)

    def _input_tensor(self, array: np.ndarray) -> Tensor:
        # A floating array takes the parameters' dtype, as Linear's `x @ weight.T` gives it;
        # integer and bool arrays (indices, labels, masks) keep theirs.
        if array.dtype.kind != "f":
            return Tensor(array)
        dtype = next((p.dtype for _, p in self.named_parameters() if p.dtype.kind == "f"), None)
        return Tensor(array, dtype=dtype)

    # ---- walking the tree ---------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules with their attribute names (``layers.0`` for list items)."""
        for name, value in vars(self).items():
            if name == "_init_arguments":
                continue
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, list | tuple):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, depth first."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        for _, module in self.named_modules():
            yield module

    def _named_tensors(self, want_parameters: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for name, value in _attribute_tensors(module):
                if isinstance(value, Parameter) == want_parameters and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter once (shared ones under their first name), with dotted names."""
        for name, tensor in self._named_tensors(want_parameters=True):
            yield name, cast(Parameter, tensor)

    def parameters(self) -> list[Parameter]:
        """Every parameter once, in definition order."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        """Tensors that are state but not trained (e.g. BatchNorm running statistics)."""
        yield from self._named_tensors(want_parameters=False)

    # ---- modes and gradients ------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Switch this module and its descendants to training (or evaluation) mode."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode: dropout off, batch norm uses running statistics."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Clear the gradients of every parameter."""
        for p in self.parameters():
            p.grad = None

    def to(self, dtype: Any) -> Module:
        """Convert every floating parameter and buffer to the floating ``dtype`` in place."""
        if np.dtype(dtype).kind != "f":
            raise InvalidParameterError(
                f"Module.to needs a floating dtype (float32, float64), got {np.dtype(dtype)}"
            )
        for _, tensor in [*self.named_parameters(), *self.named_buffers()]:
            if tensor.data.dtype.kind == "f":
                tensor.data = tensor.data.astype(dtype)
                tensor.grad = None
        return self

    # ---- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        tensors = [*self.named_parameters(), *self.named_buffers()]
        return {name: tensor.data.copy() for name, tensor in tensors}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays from ``state`` into the parameters and buffers of the same names.

        Raises
        ------
        NotFoundError
            With ``strict``, if names are missing or unexpected.
        ShapeError
            If an array's shape differs from the parameter's.
        """
        own = dict([*self.named_parameters(), *self.named_buffers()])
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise NotFoundError(
                f"state dict does not match {type(self).__name__}: missing {missing}, "
                f"unexpected {unexpected} (load_state_dict(..., strict=False) skips them)"
            )
        arrays = {name: np.asarray(state[name]) for name in own if name in state}
        for name, value in arrays.items():  # check everything before changing anything
            if value.shape != own[name].data.shape:
                raise ShapeError(
                    f"{name}: saved array has shape {value.shape}, the model expects "
                    f"{own[name].data.shape}"
                )
        for name, value in arrays.items():
            own[name].data = value.astype(own[name].data.dtype, copy=True)

    def __repr__(self) -> str:
        args = ", ".join(self._describe_args())
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({args})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}({args}\n" + "\n".join(lines) + "\n)"

    def _describe_args(self) -> list[str]:
        return [
            f"{name}={value!r}"
            for name, value in (self._init_arguments or {}).items()
            if not _holds_modules(value)
        ]


def _holds_modules(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(isinstance(v, Module) for v in value)
    return isinstance(value, Module)


def _attribute_tensors(module: Module) -> Iterator[tuple[str, Tensor]]:
    """Tensors held directly by ``module``, also inside lists and tuples (``name.i``)."""
    for name, value in vars(module).items():
        if name == "_init_arguments":
            continue
        if isinstance(value, Tensor):
            yield name, value
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, Tensor):
                    yield f"{name}.{i}", item
