"""Convolution and pooling layers on NCHW input."""

from __future__ import annotations

from collections.abc import Callable

from azuraforge.core import functional as F
from azuraforge.core.nn import init
from azuraforge.core.nn.module import Module, Parameter
from azuraforge.core.nn.registry import register_architecture
from azuraforge.core.tensor import Tensor
from azuraforge.core.validation import check_padding, check_positive, pair


@register_architecture("Conv2d")
class Conv2d(Module):
    """2-D convolution: (N, in_channels, H, W) -> (N, out_channels, H', W').

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input and of the output (the number of filters).
    kernel_size
        Filter height and width: an int or a pair.
    stride, padding
        Step between windows (>= 1) and zeros added on each side (>= 0): an int or a pair;
        ``padding`` may also be ``"same"`` (output as large as the input, stride 1) or
        ``"valid"`` (no padding), as in PyTorch.
    bias
        Whether to learn one additive bias per output channel.

    Examples
    --------
    >>> import numpy as np
    >>> from azuraforge.core import manual_seed
    >>> manual_seed(0)
    >>> Conv2d(1, 8, kernel_size=3, padding=1)(Tensor(np.zeros((2, 1, 28, 28)))).shape
    (2, 8, 28, 28)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        bias: bool = True,
    ) -> None:
        check_positive("Conv2d", in_channels=in_channels, out_channels=out_channels)
        kh, kw = pair(kernel_size, "kernel_size")
        pair(stride, "stride")
        check_padding("Conv2d", padding, stride)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        fan_in = in_channels * kh * kw
        self.weight = Parameter(init.fan_in_uniform((out_channels, in_channels, kh, kw), fan_in))
        self.bias = Parameter(init.fan_in_uniform((out_channels,), fan_in)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


class _Pool2D(Module):
    """Pooling over windows of ``kernel_size``.

    Parameters
    ----------
    kernel_size
        Window height and width: an int or a pair.
    stride
        Step between windows; defaults to ``kernel_size`` (non-overlapping windows).
    """

    pool: Callable[..., Tensor]

    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
    ) -> None:
        pair(kernel_size, "kernel_size")
        if stride is not None:
            pair(stride, "stride")
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: Tensor) -> Tensor:
        return type(self).pool(x, self.kernel_size, self.stride)


@register_architecture("MaxPool2d")
class MaxPool2d(_Pool2D):
    """Maximum over each window, the gradient going to the first maximum (see
    :class:`_Pool2D` for the parameters)."""

    pool = staticmethod(F.max_pool2d)


@register_architecture("AvgPool2d")
class AvgPool2d(_Pool2D):
    """Mean over each window (see :class:`_Pool2D` for the parameters)."""

    pool = staticmethod(F.avg_pool2d)


@register_architecture("AdaptiveAvgPool2d")
class AdaptiveAvgPool2d(Module):
    """Mean over ``output_size`` regions of each channel, whatever the input's height and
    width (``AdaptiveAvgPool2d(1)``: global average pooling), as PyTorch's.

    Examples
    --------
    >>> import numpy as np
    >>> AdaptiveAvgPool2d((2, 1))(Tensor(np.zeros((3, 8, 5, 7)))).shape
    (3, 8, 2, 1)
    """

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        pair(output_size, "output_size")
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)


# The names of earlier releases, kept so existing code runs: the same class objects.
Conv2D = Conv2d
MaxPool2D = MaxPool2d
AvgPool2D = AvgPool2d

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2D",
    "AvgPool2d",
    "Conv2D",
    "Conv2d",
    "MaxPool2D",
    "MaxPool2d",
]
