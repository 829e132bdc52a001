"""What :class:`~azuraforge.core.tensor.Tensor` methods give that is not a tensor, under
PyTorch's and NumPy's names at once: the element count that called is the shape, the
``(values, indices)`` of a reduction along a dim, and the truth value of ``==``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azuraforge.errors import ShapeError

if TYPE_CHECKING:
    from azuraforge.core.tensor import Tensor


class Size(int):
    """A tensor's element count (an ``int``) that, called, gives its shape or one dimension:
    NumPy's ``.size`` and PyTorch's ``.size(dim)`` at once."""

    shape: tuple[int, ...]

    def __new__(cls, count: int, shape: tuple[int, ...]) -> Size:
        size = super().__new__(cls, count)
        size.shape = shape
        return size

    def __call__(self, dim: int | None = None) -> Any:
        if dim is None:
            return self.shape
        if not -len(self.shape) <= dim < len(self.shape):
            raise ShapeError(f"size: dim {dim} is out of range for shape {self.shape}")
        return self.shape[dim]


class MinMax(tuple["Tensor", "Tensor"]):
    """``(values, indices)`` of :meth:`Tensor.max` and :meth:`Tensor.min` along a dim, as
    PyTorch's named tuple."""

    __slots__ = ()

    def __new__(cls, values: Tensor, indices: Tensor) -> MinMax:
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


class Identity:
    """What ``tensor == other`` gives: whether they are the same object, as a truth value
    (tensors stay hashable, usable in sets, dicts and ``in``). It is not a tensor: any tensor
    method on it says to use :meth:`Tensor.eq` for element-wise equality."""

    __slots__ = ("same",)

    def __init__(self, same: bool) -> None:
        self.same = same

    def __bool__(self) -> bool:
        return self.same

    def __repr__(self) -> str:
        return repr(self.same)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"tensor == tensor tells whether they are the same object ({self.same}), not a "
            f"tensor, so it has no .{name}: for element-wise equality use a.eq(b), e.g. "
            "a.eq(b).float().mean() for an accuracy"
        )
