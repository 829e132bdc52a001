"""LSTM and GRU layers, stacked, on (batch, time, features) input."""

from __future__ import annotations

from collections.abc import Callable

from azuraforge.core import functional as F
from azuraforge.core.nn import init
from azuraforge.core.nn.module import Module, Parameter
from azuraforge.core.nn.registry import register_architecture
from azuraforge.core.tensor import Tensor
from azuraforge.core.validation import check_positive, check_probability

LayerKernel = Callable[..., Tensor]


class _Recurrent(Module):
    """Stacked recurrent layers sharing one fused kernel per layer."""

    gates: int
    kernel: LayerKernel

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        return_sequences: bool = False,
    ) -> None:
        name = type(self).__name__
        check_positive(name, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        check_probability(name, "dropout", dropout)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout, self.return_sequences = dropout, return_sequences
        rows = self.gates * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            # PyTorch's names, layout and initialisation, so state dicts map one to one.
            for kind, shape in (
                ("weight_ih", (rows, width)),
                ("weight_hh", (rows, hidden_size)),
                ("bias_ih", (rows,)),
                ("bias_hh", (rows,)),
            ):
                weights = init.fan_in_uniform(shape, hidden_size)
                setattr(self, f"{kind}_l{layer}", Parameter(weights))

    def forward(self, x: Tensor) -> Tensor:
        """(batch, time, input_size) -> (batch, hidden_size), or (batch, time, hidden_size)
        with ``return_sequences``."""
        for layer in range(self.num_layers):
            if layer > 0:
                x = F.dropout(x, self.dropout, self.training)
            last_only = layer == self.num_layers - 1 and not self.return_sequences
            weights = [
                getattr(self, f"{k}_l{layer}")
                for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ]
            x = type(self).kernel(x, *weights, last_only=last_only)
        return x


@register_architecture("LSTM")
class LSTM(_Recurrent):
    """Long short-term memory layers (PyTorch's equations and gate order ``i, f, g, o``).

    Parameters
    ----------
    input_size
        Features per time step.
    hidden_size
        Size of the hidden and cell state.
    num_layers
        Stacked layers; each one's output sequence feeds the next.
    dropout
        Dropout between stacked layers while training.
    return_sequences
        Return every step ``(batch, time, hidden)`` instead of the last ``(batch, hidden)``.

    Examples
    --------
    >>> import numpy as np
    >>> from azuraforge.core import manual_seed
    >>> manual_seed(0)
    >>> LSTM(8, 16, num_layers=2)(Tensor(np.zeros((4, 10, 8)))).shape
    (4, 16)
    """

    gates = 4
    kernel = staticmethod(F.lstm_layer)


@register_architecture("GRU")
class GRU(_Recurrent):
    """Gated recurrent unit layers (PyTorch's equations and gate order ``r, z, n``).

    Same parameters as :class:`LSTM`.

    Examples
    --------
    >>> import numpy as np
    >>> from azuraforge.core import manual_seed
    >>> manual_seed(0)
    >>> GRU(8, 16, return_sequences=True)(Tensor(np.zeros((4, 10, 8)))).shape
    (4, 10, 16)
    """

    gates = 3
    kernel = staticmethod(F.gru_layer)
