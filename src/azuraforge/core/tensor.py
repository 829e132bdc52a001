"""`Tensor`: an n-dimensional array that records the operations made on it.

Each operation computes its output with NumPy and remembers, in a small context, what its
backward rule needs. :meth:`Tensor.backward` sorts the graph topologically (iteratively, so
a 10,000-step chain is fine), walks it in reverse and applies the rules of
:data:`azuraforge.core.autograd.GRADIENTS`. Gradients land in ``.grad`` of the leaves that
require them and are *accumulated* until an optimiser's ``zero_grad`` clears them.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

import numpy as np

from azuraforge.core.autograd import FREED, GRADIENTS, unbroadcast
from azuraforge.core.backend import array_module
from azuraforge.core.results import Identity, MinMax, Size
from azuraforge.core.validation import OLD_NAME, TORCH_NAME, either
from azuraforge.errors import GradientError, InvalidParameterError, ShapeError

ArrayLike: TypeAlias = "Tensor | np.ndarray | float | int | Sequence[Any]"
Context: TypeAlias = "tuple[str, tuple[Tensor, ...], tuple[Any, ...]]"

_grad_mode = threading.local()


def is_grad_enabled() -> bool:
    """Whether operations record a graph in this thread (``False`` inside :func:`no_grad`)."""
    return getattr(_grad_mode, "enabled", True)


@contextmanager
def no_grad() -> Iterator[None]:
    """Run the block without recording a graph: faster, and nothing can be backpropagated.

    Examples
    --------
    >>> w = Tensor([2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = w * 3
    >>> y.requires_grad
    False
    """
    previous = is_grad_enabled()
    _grad_mode.enabled = False
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def _as_array(data: Any, dtype: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    array = _numeric_array(data, dtype)
    if dtype is not None:
        return array
    # float32 is the default for floats and Python numbers; integer and bool arrays keep
    # their type so they can serve as labels, indices and masks.
    if array.dtype.kind == "b" or (isinstance(data, np.ndarray) and array.dtype.kind in "iu"):
        return array
    return array.astype(np.float32, copy=False)


def _numeric_array(data: Any, dtype: Any) -> np.ndarray:
    """``data`` as an array of the array module, of ``dtype`` if given; refused unless it
    holds numbers or bools (a list of tensors is refused too)."""
    if isinstance(data, list | tuple) and any(isinstance(d, Tensor) for d in data):
        raise InvalidParameterError(
            "cannot make a tensor from a list of tensors; use stack() or concat() to join them"
        )
    xp = array_module()
    try:
        array: np.ndarray = xp.asarray(data, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise InvalidParameterError(
            f"cannot make a tensor from {type(data).__name__} data: {e}; to join tensors use "
            "stack() or concat()"
        ) from None
    if array.dtype.kind not in "biuf":
        raise InvalidParameterError(
            f"tensors hold numbers or bools, got dtype {array.dtype} from {type(data).__name__}; "
            "to join tensors use stack() or concat()"
        )
    return array


_DEVICES = ("cpu", "cuda", "mps", "xpu", "meta")
"""PyTorch's device names, so that ``to("cuda")`` says the core has none."""


class Tensor:
    """An array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data
        Anything NumPy turns into an array: nested lists, numbers, arrays or a ``Tensor``.
    requires_grad
        Whether gradients should be computed for this tensor. Only floating tensors can.
    dtype
        NumPy dtype. By default floats and Python numbers become ``float32``; integer and bool
        arrays keep their dtype (labels, indices).

    Examples
    --------
    >>> x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([[2., 4.],
           [6., 8.]], dtype=float32)
    """

    __slots__ = ("__weakref__", "_ctx", "data", "grad", "requires_grad")
    # NumPy must hand mixed expressions (ndarray * Tensor) back to our reflected operators.
    __array_ufunc__ = None

    def __init__(self, data: ArrayLike, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise InvalidParameterError(
                f"only floating tensors can require gradients, got dtype {self.data.dtype}; "
                "convert the data first, e.g. np.asarray(data, dtype=np.float32)"
            )
        self.requires_grad = requires_grad
        self.grad: np.ndarray | None = None
        self._ctx: Context | None = None

    @classmethod
    def _from_op(
        cls, data: np.ndarray, op: str, parents: tuple[Tensor, ...], *saved: Any
    ) -> Tensor:
        """Wrap an op's output; keep the backward context only when a parent needs grad."""
        out = cls.__new__(cls)
        out.data = data
        out.grad = None
        out.requires_grad = is_grad_enabled() and any(p.requires_grad for p in parents)
        out._ctx = (op, parents, saved) if out.requires_grad else None
        return out

    # ---- basic properties -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The dimensions, as a tuple."""
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return int(self.data.ndim)

    @property
    def size(self) -> Size:
        """Number of elements, an int (NumPy's ``.size``) that can also be called as
        PyTorch's ``size()``: ``t.size()`` is the shape, ``t.size(dim)`` one dimension.

        Examples
        --------
        >>> t = Tensor(np.zeros((2, 3)))
        >>> t.size, t.size(), t.size(-1)
        (6, (2, 3), 3)
        """
        return Size(self.data.size, self.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The NumPy dtype of the data."""
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an operation."""
        return self._ctx is None

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise InvalidParameterError(
                f"item() needs a tensor with one element, got shape {self.shape}"
            )
        return float(self.data.reshape(()))

    def detach(self) -> Tensor:
        """A tensor sharing the data, cut from the graph (``requires_grad=False``)."""
        return Tensor(self.data, dtype=self.data.dtype)

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to ``dtype``; gradients flow back converted to this dtype."""
        return ops.cast(self, dtype)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise ShapeError("len() of a 0-d tensor; use .item() for its value")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        """The tensor's rows (its slices along the first axis), each in the graph:
        ``for row in t``, ``a, b = t``, ``list(t)``."""
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise InvalidParameterError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                "use .numpy().any() or .numpy().all()"
            )
        return bool(self.data.reshape(()))

    def __float__(self) -> float:
        return self.item()

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self.data.dtype != np.float32:
            extra += f", dtype={self.data.dtype}"
        return f"Tensor({body}{extra})"

    # ---- autograd ---------------------------------------------------------------------
    def backward(self, grad: ArrayLike | None = None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor and accumulate gradients in the leaves' ``.grad``.

        Parameters
        ----------
        grad
            Gradient of the final objective with respect to this tensor. May be omitted only
            for a one-element tensor (it is then 1).
        retain_graph
            Keep the graph so ``backward`` can be called again through it.

        Raises
        ------
        GradientError
            If this tensor does not require gradients, or ``grad`` is missing for a
            non-scalar, or the graph was already freed by an earlier ``backward``.
        """
        if not self.requires_grad:
            raise GradientError(
                "backward() on a tensor that does not require grad: no parameter or input it "
                "was computed from has requires_grad=True (or it was computed under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise GradientError(
                    f"backward() without a gradient needs a one-element tensor, got shape "
                    f"{self.shape}; reduce it first (e.g. loss.mean()) or pass grad="
                )
            seed = np.ones_like(self.data)
        else:
            seed = _as_array(grad, self.data.dtype)
            if seed.shape != self.data.shape:
                raise GradientError(f"grad has shape {seed.shape}, expected {self.shape}")
        _backpropagate(self, seed, retain_graph)

    # ---- operators (defined in ops.py) ------------------------------------------------
    def __add__(self, other: ArrayLike) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: ArrayLike) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: ArrayLike) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: ArrayLike) -> Tensor:
        return ops.sub(other, self)

    def __mul__(self, other: ArrayLike) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: ArrayLike) -> Tensor:
        return ops.mul(other, self)

    def __truediv__(self, other: ArrayLike) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: ArrayLike) -> Tensor:
        return ops.div(other, self)

    def __pow__(self, exponent: ArrayLike) -> Tensor:
        return ops.pow(self, exponent)

    def __rpow__(self, base: ArrayLike) -> Tensor:
        return ops.pow(base, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __matmul__(self, other: ArrayLike) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: ArrayLike) -> Tensor:
        return ops.matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    # Comparisons give bool tensors (no gradient); == keeps identity so tensors stay hashable
    # and usable in sets and `in` checks. Use eq() for element-wise equality.
    def __lt__(self, other: ArrayLike) -> Tensor:
        return Tensor(self.data < _data(other))

    def __le__(self, other: ArrayLike) -> Tensor:
        return Tensor(self.data <= _data(other))

    def __gt__(self, other: ArrayLike) -> Tensor:
        return Tensor(self.data > _data(other))

    def __ge__(self, other: ArrayLike) -> Tensor:
        return Tensor(self.data >= _data(other))

    def eq(self, other: ArrayLike) -> Tensor:
        """Element-wise equality as a bool tensor."""
        return Tensor(self.data == _data(other))

    def __eq__(self, other: object) -> Identity:  # type: ignore[override]
        return Identity(self is other)

    def __ne__(self, other: object) -> Identity:  # type: ignore[override]
        return Identity(self is not other)

    __hash__ = object.__hash__

    # ---- methods (thin wrappers over ops and functional) --------------------------------
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes by default)."""
        return ops.sum(self, axis, keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (all axes by default)."""
        return ops.mean(self, axis, keepdims)

    def max(
        self,
        dim: int | None = None,
        keepdim: bool = False,
        *,
        axis: int | tuple[int, ...] | None = None,
        keepdims: bool = False,
    ) -> Any:
        """With ``dim`` (PyTorch's call, positional too): ``(values, indices)`` of the maxima
        along it. Else the maximum over ``axis`` (all axes by default), as NumPy's ``max``.
        The gradient is shared equally between ties.

        Examples
        --------
        >>> values, indices = Tensor([[1.0, 5.0], [7.0, 2.0]]).max(1)
        >>> values, indices
        (Tensor([5., 7.]), Tensor([1, 0], dtype=int64))
        >>> Tensor([[1.0, 5.0], [7.0, 2.0]]).max(axis=0)
        Tensor([7., 5.])
        """
        return self._extreme(ops.max, Tensor.argmax, dim, keepdim, axis, keepdims)

    def min(
        self,
        dim: int | None = None,
        keepdim: bool = False,
        *,
        axis: int | tuple[int, ...] | None = None,
        keepdims: bool = False,
    ) -> Any:
        """With ``dim``: ``(values, indices)`` of the minima along it; else the minimum over
        ``axis``. See :meth:`max`."""
        return self._extreme(ops.min, Tensor.argmin, dim, keepdim, axis, keepdims)

    def _extreme(
        self,
        reduce: Callable[..., Tensor],
        locate: Callable[..., Tensor],
        dim: int | None,
        keepdim: bool,
        axis: int | tuple[int, ...] | None,
        keepdims: bool,
    ) -> Tensor | MinMax:
        if dim is None:
            return reduce(self, axis, keepdims or keepdim)
        return MinMax(reduce(self, dim, keepdim), locate(self, dim=dim, keepdim=keepdim))

    def exp(self) -> Tensor:
        """Element-wise e**x."""
        return ops.exp(self)

    def log(self) -> Tensor:
        """Element-wise natural logarithm."""
        return ops.log(self)

    def sqrt(self) -> Tensor:
        """Element-wise square root."""
        return ops.sqrt(self)

    def abs(self) -> Tensor:
        """Element-wise absolute value (gradient 0 at 0)."""
        return ops.abs(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Clamp values to ``[min, max]``; gradient flows where the value was inside."""
        return ops.clip(self, min, max)

    def relu(self) -> Tensor:
        """max(x, 0)."""
        return ops.relu(self)

    def sigmoid(self) -> Tensor:
        """1 / (1 + e**-x)."""
        return ops.sigmoid(self)

    def tanh(self) -> Tensor:
        """Hyperbolic tangent."""
        return ops.tanh(self)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """The same data with a new shape (one dimension may be -1)."""
        return ops.reshape(self, _shape_args(shape))

    def view(self, *shape: int | Sequence[int]) -> Tensor:
        """PyTorch's name for :meth:`reshape` (the data is shared where NumPy can)."""
        return self.reshape(*shape)

    def unsqueeze(self, dim: int) -> Tensor:
        """A new axis of size 1 at ``dim`` (``-1``: last).

        Examples
        --------
        >>> Tensor(np.zeros((2, 3))).unsqueeze(1).shape
        (2, 1, 3)
        """
        if not -self.ndim - 1 <= dim <= self.ndim:
            raise ShapeError(
                f"unsqueeze: dim {dim} is out of range for a tensor of {self.ndim} dimensions "
                f"(expected {-self.ndim - 1} to {self.ndim})"
            )
        at = dim if dim >= 0 else dim + self.ndim + 1
        return ops.reshape(self, (*self.shape[:at], 1, *self.shape[at:]))

    def squeeze(self, dim: int | None = None) -> Tensor:
        """Without axes of size 1 (only ``dim``, if given and of size 1, as PyTorch).

        Examples
        --------
        >>> t = Tensor(np.zeros((2, 1, 3, 1)))
        >>> t.squeeze().shape, t.squeeze(1).shape, t.squeeze(0).shape
        ((2, 3), (2, 3, 1), (2, 1, 3, 1))
        """
        axes = range(self.ndim) if dim is None else ops.normalize_axes(self, dim)
        dropped = {axis for axis in axes if self.shape[axis] == 1}
        kept = [n for axis, n in enumerate(self.shape) if axis not in dropped]
        return ops.reshape(self, tuple(kept))

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        """Reorder the axes."""
        return ops.permute(self, _shape_args(axes))

    def transpose(self, axis0: int = -2, axis1: int = -1) -> Tensor:
        """Swap two axes (the last two by default)."""
        return ops.transpose(self, axis0, axis1)

    @property
    def T(self) -> Tensor:  # noqa: N802  (NumPy and PyTorch spell it so)
        """All axes reversed."""
        return ops.permute(self, tuple(reversed(range(self.ndim))))

    def flatten(
        self, start_dim: int | None = None, end_dim: int = -1, *, start_axis: int | None = None
    ) -> Tensor:
        """Merge axes ``start_dim`` (0 unless given) to ``end_dim`` (inclusive) into one, as
        ``torch.flatten``; ``start_axis`` is the earlier spelling of ``start_dim``.

        Raises
        ------
        InvalidParameterError
            If ``start_dim`` and ``start_axis`` are both given with different values.
        ShapeError
            If an axis is out of range or ``start_dim`` comes after ``end_dim``.

        Examples
        --------
        >>> Tensor(np.zeros((2, 3, 4))).flatten(1).shape
        (2, 12)
        >>> Tensor(np.zeros((2, 3, 4))).flatten(0, 1).shape
        (6, 4)
        """
        given = either("flatten", ("start_dim", "start_axis"), start_dim, start_axis, OLD_NAME)
        start = 0 if given is None else given
        if self.ndim == 0:
            return ops.reshape(self, (1,))
        first, last = ops.normalize_axes(self, start)[0], ops.normalize_axes(self, end_dim)[0]
        if first > last:
            raise ShapeError(
                f"flatten: start_dim {start} comes after end_dim {end_dim} for a tensor of "
                f"shape {self.shape}"
            )
        merged = int(np.prod(self.shape[first : last + 1]))
        return ops.reshape(self, (*self.shape[:first], merged, *self.shape[last + 1 :]))

    def argmax(
        self,
        axis: int | None = None,
        keepdims: bool | None = None,
        *,
        dim: int | None = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        """Indices (int64) of the maxima along ``axis`` (``dim`` is PyTorch's spelling), of
        the flattened tensor when neither is given; ``keepdims`` (or PyTorch's ``keepdim``)
        keeps the reduced axis with size 1. No gradient flows through indices.

        Raises
        ------
        InvalidParameterError
            If both spellings of an argument are given with different values.
        ShapeError
            If the axis is out of range, or the axis (the tensor, when none is given) is
            empty.

        Examples
        --------
        >>> Tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(axis=1)
        Tensor([1, 0], dtype=int64)
        >>> Tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(dim=1, keepdim=True).shape
        (2, 1)
        """
        return self._arg_reduce(np.argmax, "argmax", (axis, dim), (keepdims, keepdim))

    def argmin(
        self,
        axis: int | None = None,
        keepdims: bool | None = None,
        *,
        dim: int | None = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        """Indices (int64) of the minima along ``axis`` (or ``dim``); see :meth:`argmax`.

        Examples
        --------
        >>> Tensor([[1.0, 5.0], [7.0, 2.0]]).argmin(dim=0)
        Tensor([0, 1], dtype=int64)
        """
        return self._arg_reduce(np.argmin, "argmin", (axis, dim), (keepdims, keepdim))

    def _arg_reduce(
        self,
        reduce: Callable[..., Any],
        what: str,
        axes: tuple[int | None, int | None],
        keeps: tuple[bool | None, bool | None],
    ) -> Tensor:
        """``reduce`` (np.argmax or np.argmin, named ``what``) along the axis given as
        ``(axis, dim)``, keeping it as ``(keepdims, keepdim)`` say."""
        axis = either(what, ("axis", "dim"), *axes, TORCH_NAME)
        keepdims = bool(either(what, ("keepdims", "keepdim"), *keeps, TORCH_NAME))
        ops._check_reducible(self, axis, what)
        return Tensor(reduce(self.data, axis=axis, keepdims=keepdims), dtype=np.int64)

    def softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """exp(x) normalised to sum to 1 along ``axis`` (or ``dim``; default the last).

        Examples
        --------
        >>> Tensor([0.0, 0.0]).softmax()
        Tensor([0.5, 0.5])
        """
        picked = either("softmax", ("axis", "dim"), axis, dim, TORCH_NAME)
        return F.softmax(self, -1 if picked is None else picked)

    def log_softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """log(softmax(x)) along ``axis`` (or ``dim``; default the last), computed stably.

        Examples
        --------
        >>> Tensor([0.0, 0.0]).log_softmax().exp()
        Tensor([0.5, 0.5])
        """
        picked = either("log_softmax", ("axis", "dim"), axis, dim, TORCH_NAME)
        return F.log_softmax(self, -1 if picked is None else picked)

    def numel(self) -> int:
        """Number of elements (PyTorch's name for :attr:`size`)."""
        return self.size

    def tolist(self) -> Any:
        """The data as nested Python lists of Python numbers (a number for a 0-d tensor).

        Examples
        --------
        >>> Tensor([[1, 2]], dtype=np.int64).tolist()
        [[1, 2]]
        """
        return self.data.tolist()

    def long(self) -> Tensor:
        """An int64 copy (indices, class labels), out of the graph as PyTorch's ``.long()``."""
        return ops.cast(self, np.int64)

    def int(self) -> Tensor:
        """An int32 copy, out of the graph."""
        return ops.cast(self, np.int32)

    def to(self, target: Any) -> Tensor:
        """``self`` on ``"cpu"`` (the core's only device), or a copy converted to a dtype
        (``np.float64``, ``"float64"``), as PyTorch's ``.to``.

        Raises
        ------
        InvalidParameterError
            For another device (``"cuda"``): the core runs on the CPU only.
        """
        device = target.split(":")[0] if isinstance(target, str) else None
        if device in _DEVICES:
            if device != "cpu":
                raise InvalidParameterError(
                    f"to({target!r}): the core runs on the CPU only; use to('cpu') or leave it"
                )
            return self
        try:
            dtype = np.dtype(target)
        except TypeError:
            raise InvalidParameterError(
                f"to() takes 'cpu' or a dtype such as np.float64, got {target!r}"
            ) from None
        return self if dtype == self.dtype else ops.cast(self, dtype)

    def float(self) -> Tensor:
        """A float32 copy, as PyTorch's ``.float()``; gradients flow back through it.

        Examples
        --------
        >>> Tensor(np.array([1, 2])).float()
        Tensor([1., 2.])
        """
        return ops.cast(self, np.float32)


def _data(value: ArrayLike) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _shape_args(args: tuple[Any, ...]) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], list | tuple):
        return tuple(args[0])
    return tuple(args)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Nodes that need grad, each after every node that uses it (iterative DFS)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            stack.extend((p, False) for p in node._ctx[1] if p.requires_grad)
    order.reverse()
    return order


def _backpropagate(root: Tensor, seed: np.ndarray, retain_graph: bool) -> None:
    grads: dict[int, np.ndarray] = {id(root): seed}
    for node in _topological_order(root):
        grad = grads.pop(id(node), None)
        if grad is None:
            continue
        if node._ctx is None:
            _accumulate_leaf(node, grad)
            continue
        op, parents, saved = node._ctx
        # map, not a generator expression: no generator frame made for each node
        needs = tuple(map(_REQUIRES_GRAD, parents))
        for parent, parent_grad in zip(parents, GRADIENTS[op](needs, grad, *saved), strict=True):
            if parent_grad is None or not parent.requires_grad:
                continue
            if parent_grad.shape != parent.data.shape:
                parent_grad = unbroadcast(parent_grad, parent.data.shape)
            key = id(parent)
            grads[key] = grads[key] + parent_grad if key in grads else parent_grad
        if not retain_graph:
            node._ctx = FREED


_REQUIRES_GRAD = operator.attrgetter("requires_grad")


def _accumulate_leaf(leaf: Tensor, grad: np.ndarray) -> None:
    # A copy (one backward rule may hand the same array to several inputs) laid out like the
    # leaf's data, as PyTorch's .grad is: the optimiser's passes over both then run in step
    # (Adam on a transposed (128, 1600) gradient took 1.0 ms instead of 0.1).
    copy = np.empty_like(leaf.data)
    np.copyto(copy, grad, casting="unsafe")
    leaf.grad = copy if leaf.grad is None else leaf.grad + copy


from azuraforge.core import functional as F  # noqa: E402  (both need Tensor defined first)
from azuraforge.core import ops  # noqa: E402
