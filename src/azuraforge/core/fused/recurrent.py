"""LSTM and GRU layers over a whole sequence, as single graph nodes.

Inside the kernels the layout is feature-major, ``(time, features, batch)``: a step's gates
are a ``(4*hidden, batch)`` block whose per-gate slices are contiguous slabs, so the
element-wise calls run at full SIMD speed (column slices of ``(batch, 4*hidden)`` were 2-3x
slower). The bias rides along as a row of ones under the input, so one product applies
weights and bias together and the bias gradient falls out of the weight gradient.

The LSTM's forward step is one GEMM, ``[W_hh | W_ih | b] @ [h(t-1); x(t); 1]``, and the gate
maths in one reused ``(5*hidden, batch)`` block; while that block is still in cache, a
training step also writes what its backward step will multiply by (the activation slopes
times their partners), so the backward loop makes five element-wise calls and
``W_hh^T @ d(t)`` a step and reads nothing else. The weight and input gradients of a finished
chunk of steps go to the core's other threads (:class:`~azuraforge.core.parallel.Background`)
in three large calls while the loop goes on. A step's own calls are too small to split: two
threads trading the GIL every few microseconds ran slower than one.

Parameters keep PyTorch's layout and gate order (LSTM ``i, f, g, o``; GRU ``r, z, n``).
Internally the LSTM gates are reordered to ``g, o, i, f`` and the sigmoid rows are scaled by
one half, so that a single ``tanh`` call gives all gates: sigmoid(x) = (tanh(x/2) + 1) / 2.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from azuraforge.core import workspace
from azuraforge.core.autograd import Grads, Needs, register_gradient
from azuraforge.core.parallel import Background, split
from azuraforge.core.tensor import Tensor, is_grad_enabled
from azuraforge.errors import ShapeError

# Work handed to the other threads goes in a few large pieces of the sequence: every task is
# a handful of NumPy calls, and each call a thread makes beside the step loop may take the GIL
# just when the loop wants it back (a background thread making ~10 us calls was measured to
# double the loop's time; one making a single large product cost it 4 %).
BACKWARD_PIECES = 3  # chunks of steps whose weight and input gradients go to the other threads


def _check_sequence(
    x: Tensor, w_ih: Tensor, w_hh: Tensor, biases: tuple[Tensor, Tensor], gates: int, layer: str
) -> None:
    if x.ndim != 3:
        raise ShapeError(f"{layer} expects input of shape (batch, time, features), got {x.shape}")
    if w_ih.ndim == 2 and x.shape[2] != w_ih.shape[1]:
        raise ShapeError(
            f"{layer} was built for {w_ih.shape[1]} input features, got {x.shape[2]} "
            f"(input shape {x.shape})"
        )
    hidden = w_hh.shape[-1]
    rows = gates * hidden
    shapes = [w_ih.shape[:1], w_hh.shape, biases[0].shape, biases[1].shape]
    if w_ih.ndim != 2 or shapes != [(rows,), (rows, hidden), (rows,), (rows,)]:
        raise ShapeError(
            f"{layer} weights do not fit together: w_ih {w_ih.shape}, w_hh {w_hh.shape}, "
            f"b_ih {biases[0].shape}, b_hh {biases[1].shape}; expected {gates}*hidden rows"
        )


def _lstm_order(hidden: int) -> np.ndarray:
    """Row order g, o, i, f from PyTorch's i, f, g, o."""
    h = hidden
    order: np.ndarray = np.r_[2 * h : 4 * h, 0 : 2 * h]
    return order


def _gate_scale(hidden: int, sigmoid_gates: int, dtype: Any) -> np.ndarray:
    scale: np.ndarray = np.r_[np.full(sigmoid_gates * hidden, 0.5), np.ones(hidden)]
    return scale.astype(dtype)


def _feature_major(x: np.ndarray) -> np.ndarray:
    """(batch, time, features) -> contiguous (time, features, batch)."""
    return _contiguous(x.transpose(1, 2, 0))


def _batch_major(x: np.ndarray) -> np.ndarray:
    """(time, features, batch) -> contiguous (batch, time, features)."""
    return _contiguous(x.transpose(2, 0, 1))


def _contiguous(view: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``view`` in a reused buffer (fresh ones page-fault each step)."""
    out = workspace.empty(view.shape, view.dtype)
    np.copyto(out, view)
    return out


def _with_ones(x: np.ndarray) -> np.ndarray:
    """(batch, time, features) -> (time, features + 1, batch) with a last row of ones, so one
    GEMM applies weights and bias together, and the bias gradient falls out of the same
    product."""
    batch, steps, features = x.shape
    out = np.empty((steps, features + 1, batch), dtype=x.dtype)
    out[:, :features] = x.transpose(1, 2, 0)
    out[:, features] = 1
    return out


def _output(states: np.ndarray, last_only: bool) -> np.ndarray:
    return np.ascontiguousarray(states[-1].T) if last_only else _batch_major(states[1:])


def _backward_chunks(steps: int) -> list[tuple[int, slice, range]]:
    """The steps in :data:`BACKWARD_PIECES` chunks, last chunk first, each with its index
    (the slot of its partial weight gradient) and its steps newest first. The chunks depend
    on the length only, so every thread count sums the same partials in the same order."""
    chunks = split(steps, BACKWARD_PIECES)
    return [
        (k, chunks[k], range(chunks[k].stop - 1, chunks[k].start - 1, -1))
        for k in range(len(chunks) - 1, -1, -1)
    ]


def _output_grad(grad: np.ndarray, last_only: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The initial state gradient (hidden, batch) and, for sequences, every step's."""
    if last_only:
        return np.array(grad.T, order="C"), None  # a copy: the kernels write into it
    steps_grad = _feature_major(grad)
    return np.zeros_like(steps_grad[0]), steps_grad


def lstm_layer(
    x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, last_only: bool = False
) -> Tensor:
    """One LSTM layer over a batch of sequences.

    Parameters
    ----------
    x
        Input of shape ``(batch, time, input_size)``.
    w_ih, w_hh, b_ih, b_hh
        Weights ``(4*hidden, input_size)``, ``(4*hidden, hidden)`` and biases ``(4*hidden,)``
        in PyTorch's gate order ``i, f, g, o``.
    last_only
        Return only the last hidden state ``(batch, hidden)`` instead of every step's
        ``(batch, time, hidden)``.
    """
    _check_sequence(x, w_ih, w_hh, (b_ih, b_hh), 4, "LSTM")
    parents = (x, w_ih, w_hh, b_ih, b_hh)
    batch, steps, features = x.shape
    hidden, dtype = w_hh.shape[1], x.dtype
    # One operand per step, z[t] = [h(t-1); x(t); 1], against [W_hh | W_ih | b]: a single GEMM
    # gives all gate pre-activations, and z is also what the weight gradient needs.
    weights = np.hstack([w_hh.data, w_ih.data, (b_ih.data + b_hh.data)[:, None]])
    weights = weights[_lstm_order(hidden)].astype(dtype, copy=False)
    scale = np.roll(_gate_scale(hidden, 3, dtype), hidden)  # g's row first
    z = workspace.empty((steps + 1, hidden + features + 1, batch), dtype)
    z[0, :hidden] = 0
    z[:steps, hidden:-1] = x.data.transpose(1, 2, 0)
    z[:, -1] = 1
    z[steps, hidden:-1] = 0
    needs_grad = is_grad_enabled() and any(p.requires_grad for p in parents)
    factors = workspace.empty((steps, 6 * hidden, batch), dtype) if needs_grad else None
    _lstm_steps(z, (weights * scale[:, None]).astype(dtype, copy=False), factors)
    out = _output(z[:, :hidden], last_only)
    return Tensor._from_op(out, "lstm", parents, z, weights, factors, last_only)


def _lstm_steps(z: np.ndarray, weights: np.ndarray, factors: np.ndarray | None) -> None:
    """Run the recurrence with the gate rows g, o, i, f of ``weights`` (sigmoid rows halved):
    h(t) goes to ``z[t + 1, :hidden]``. One ``(5*hidden, batch)`` block serves every step:
    rows g, o, i, f for the gates, row tanh(c) before them. With ``factors``, each step also
    leaves what its backward step multiplies by (:func:`_lstm_step_factors`), computed while
    the step's values are in cache."""
    steps, batch = z.shape[0] - 1, z.shape[2]
    hidden, dtype = weights.shape[0] // 4, z.dtype
    h2, h3, h4 = 2 * hidden, 3 * hidden, 4 * hidden
    block = np.empty((5 * hidden, batch), dtype)
    cells = np.zeros((2, hidden, batch), dtype)  # a step reads c(t-1) and writes c(t)
    product = np.empty((hidden, batch), dtype)
    for t in range(steps):
        previous, cell = cells[t % 2], cells[1 - t % 2]
        np.matmul(weights, z[t], out=block[hidden:])
        np.tanh(block[hidden:], out=block[hidden:])
        sigmoids = block[h2:]
        sigmoids *= 0.5
        sigmoids += 0.5
        np.multiply(block[h4:], previous, out=cell)
        np.multiply(block[h3:h4], block[hidden:h2], out=product)
        cell += product
        np.tanh(cell, out=block[:hidden])
        np.multiply(block[h2:h3], block[:hidden], out=z[t + 1, :hidden])
        if factors is not None:
            _lstm_step_factors(block, previous, factors[t])


def _lstm_step_factors(block: np.ndarray, previous_cell: np.ndarray, out: np.ndarray) -> None:
    """What one backward step multiplies by, from a step's block (rows tanh(c), g, o, i, f):
    ``o (1 - tanh(c)^2)``, then each gate's slope times its partner in the gate rows' order,
    ``g' i``, ``o' tanh(c)``, ``i' g``, ``f' c(t-1)``, then ``f``. Rows tanh(c), g line up with
    their partners o, i, so each pair takes one call."""
    hidden = block.shape[0] // 5
    h2, h4, h5 = 2 * hidden, 4 * hidden, 5 * hidden
    squares = out[:h2]
    np.multiply(block[:h2], block[:h2], out=squares)
    np.subtract(1, squares, out=squares)
    squares *= block[h2:h4]
    slopes = out[h2:h5]
    np.subtract(1, block[h2:], out=slopes)
    slopes *= block[h2:]
    out[h2:h4] *= block[:h2]
    out[h4:h5] *= previous_cell
    out[h5:] = block[h4:]


@register_gradient("lstm")
def _lstm_backward(
    needs: Needs,
    grad: np.ndarray,
    z: np.ndarray,
    weights: np.ndarray,
    factors: np.ndarray,
    last_only: bool,
) -> Grads:
    steps, six_h, batch = factors.shape
    hidden = six_h // 6
    h2, h3, h4, h5 = 2 * hidden, 3 * hidden, 4 * hidden, 5 * hidden
    d_state, steps_grad = _output_grad(grad.astype(factors.dtype, copy=False), last_only)
    w_h_t = np.ascontiguousarray(weights[:, :hidden].T)
    w_x_t = np.ascontiguousarray(weights[:, hidden:-1].T) if needs[0] else None
    d_gates = workspace.empty((steps, h4, batch), factors.dtype)
    grad_x = None if w_x_t is None else workspace.empty((steps, len(w_x_t), batch), factors.dtype)
    d_cell = np.zeros_like(d_state)
    d_cell_total = np.empty_like(d_state)
    blocks = (4, hidden, batch)  # the gate rows g, o, i, f
    chunks = _backward_chunks(steps)
    weights_wanted = any(needs[1:])  # not when the whole layer is frozen
    partials = workspace.empty((len(chunks), h4, z.shape[1]), factors.dtype)
    with Background() as background:
        for k, part, newest_first in chunks:
            for t in newest_first:
                if steps_grad is not None:
                    d_state += steps_grad[t]
                f, d = factors[t], d_gates[t]
                np.multiply(d_state, f[:hidden], out=d_cell_total)
                d_cell_total += d_cell
                # one call for the four gate rows, then o's row again: its gradient comes
                # from h's, not the cell's (two calls for the other three rows cost more)
                np.multiply(d_cell_total, f[hidden:h5].reshape(blocks), out=d.reshape(blocks))
                np.multiply(d_state, f[h2:h3], out=d[hidden:h2])
                np.multiply(d_cell_total, f[h5:], out=d_cell)
                if t:
                    np.matmul(w_h_t, d, out=d_state)
            gx = grad_x[part] if grad_x is not None else None
            wanted = partials[k] if weights_wanted else None
            background.submit(
                partial(_lstm_chunk_grads, d_gates[part], z[part], wanted, w_x_t, gx)
            )
    return _lstm_grads(grad_x, partials if weights_wanted else None, hidden)


def _lstm_grads(grad_x: np.ndarray | None, partials: np.ndarray | None, hidden: int) -> Grads:
    """The LSTM's gradients in its inputs' order (x, w_ih, w_hh, b_ih, b_hh) from the
    input's by step (``grad_x``) and the chunks' partial sums of the weights' (``partials``,
    None when the layer is frozen)."""
    grad_in = _batch_major(grad_x) if grad_x is not None else None
    if partials is None:
        return grad_in, None, None, None, None
    grad_weights = partials.sum(axis=0)[np.argsort(_lstm_order(hidden))]
    grad_b = grad_weights[:, -1]
    return grad_in, grad_weights[:, hidden:-1], grad_weights[:, :hidden], grad_b, grad_b


def _lstm_chunk_grads(
    d: np.ndarray,
    z: np.ndarray,
    weight_grad: np.ndarray | None,
    w_x_t: np.ndarray | None,
    grad_x: np.ndarray | None,
) -> None:
    """For a chunk of steps, each when asked for: ``weight_grad = sum over t of
    d[t] @ z[t].T`` and the input's gradient ``grad_x[t] = W_x^T @ d[t]``."""
    if weight_grad is not None:
        _summed_products(d, z, weight_grad)
    if grad_x is not None and w_x_t is not None:
        np.matmul(w_x_t, d, out=grad_x)


def _summed_products(d: np.ndarray, z: np.ndarray, out: np.ndarray) -> None:
    """``out = sum over t of d[t] @ z[t].T`` in one product of the steps laid side by side
    (copies the size of the inputs, where stacked products would grow with the weights)."""
    steps, rows, batch = d.shape
    side_by_side = _contiguous(d.transpose(1, 0, 2)).reshape(rows, steps * batch)
    operands = _contiguous(z.transpose(1, 0, 2)).reshape(z.shape[1], steps * batch)
    np.matmul(side_by_side, operands.T, out=out)


def gru_layer(
    x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, last_only: bool = False
) -> Tensor:
    """One GRU layer over a batch of sequences (PyTorch's formulation and gate order r, z, n).

    Parameters
    ----------
    x
        Input of shape ``(batch, time, input_size)``.
    w_ih, w_hh, b_ih, b_hh
        Weights ``(3*hidden, input_size)``, ``(3*hidden, hidden)`` and biases ``(3*hidden,)``.
    last_only
        Return only the last hidden state ``(batch, hidden)``.
    """
    _check_sequence(x, w_ih, w_hh, (b_ih, b_hh), 3, "GRU")
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    h2 = 2 * hidden
    dtype = x.dtype
    scale = _gate_scale(hidden, 2, dtype)[:, None]
    x_aug = _with_ones(x.data)
    w_aug = (np.hstack([w_ih.data, b_ih.data[:, None]]) * scale).astype(dtype, copy=False)
    inputs = np.matmul(w_aug, x_aug)
    w_hh_fwd = w_hh.data * scale
    b_hh_fwd = (b_hh.data[:, None] * scale).astype(dtype, copy=False)
    states = np.zeros((steps + 1, hidden, batch), dtype)
    projected = np.empty((steps, 3 * hidden, batch), dtype)
    gates_rz = np.empty((steps, h2, batch), dtype)
    candidates = np.empty((steps, hidden, batch), dtype)
    for t in range(steps):
        hp, rz, n = projected[t], gates_rz[t], candidates[t]
        np.matmul(w_hh_fwd, states[t], out=hp)
        hp += b_hh_fwd
        np.add(inputs[t, :h2], hp[:h2], out=rz)
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        np.multiply(rz[:hidden], hp[h2:], out=n)
        n += inputs[t, h2:]
        np.tanh(n, out=n)
        h = states[t + 1]
        np.subtract(states[t], n, out=h)
        h *= rz[hidden:]
        h += n
    # The r and z thirds of `projected` were computed scaled by 1/2; only the n third is
    # read again, by the backward pass.
    saved = (x_aug, w_ih.data, w_hh.data, projected[:, h2:], gates_rz, candidates, states)
    out = _output(states, last_only)
    return Tensor._from_op(out, "gru", (x, w_ih, w_hh, b_ih, b_hh), *saved, last_only)


@register_gradient("gru")
def _gru_backward(
    needs: Needs,
    grad: np.ndarray,
    x_aug: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    hidden_n: np.ndarray,
    gates_rz: np.ndarray,
    candidates: np.ndarray,
    states: np.ndarray,
    last_only: bool,
) -> Grads:
    steps, hidden, _ = candidates.shape
    h2 = 2 * hidden
    z = gates_rz[:, hidden:]
    rz_slope = gates_rz * (1 - gates_rz)
    n_slope = (1 - candidates * candidates) * (1 - z)
    z_input = states[:-1] - candidates
    d_state, steps_grad = _output_grad(grad.astype(candidates.dtype, copy=False), last_only)
    dtype, batch = candidates.dtype, d_state.shape[1]
    d_inputs = workspace.empty((steps, 3 * hidden, batch), dtype)
    d_hidden = workspace.empty_like(d_inputs)
    carried = np.empty_like(d_state)
    w_hh_t = np.ascontiguousarray(w_hh.T)
    w_ih_t = np.ascontiguousarray(w_ih.T) if needs[0] else None
    grad_x = None if w_ih_t is None else workspace.empty((steps, len(w_ih_t), batch), dtype)
    chunks = _backward_chunks(steps)
    partials_aug = workspace.empty((len(chunks), 3 * hidden, x_aug.shape[1]), dtype)
    partials_hh = workspace.empty((len(chunks), 3 * hidden, hidden), dtype)
    with Background() as background:
        for k, part, newest_first in chunks:
            for t in newest_first:
                if steps_grad is not None:
                    d_state += steps_grad[t]
                di, dh = d_inputs[t], d_hidden[t]
                np.multiply(d_state, n_slope[t], out=di[h2:])
                np.multiply(di[h2:], hidden_n[t], out=di[:hidden])
                np.multiply(d_state, z_input[t], out=di[hidden:h2])
                di[:h2] *= rz_slope[t]
                dh[:h2] = di[:h2]
                np.multiply(di[h2:], gates_rz[t, :hidden], out=dh[h2:])
                np.multiply(d_state, z[t], out=carried)
                np.matmul(w_hh_t, dh, out=d_state)
                d_state += carried
            views = (d_inputs[part], d_hidden[part], x_aug[part], states[part])
            outputs = (
                partials_aug[k],
                partials_hh[k],
                grad_x[part] if grad_x is not None else None,
            )
            background.submit(partial(_gru_chunk_grads, *views, *outputs, w_ih_t))
    grad_w_aug, grad_w_hh = partials_aug.sum(axis=0), partials_hh.sum(axis=0)
    grad_in = _batch_major(grad_x) if grad_x is not None else None
    grad_b_hh = d_hidden.sum(axis=2).sum(axis=0)
    return grad_in, grad_w_aug[:, :-1], grad_w_hh, grad_w_aug[:, -1], grad_b_hh


def _gru_chunk_grads(
    d_inputs: np.ndarray,
    d_hidden: np.ndarray,
    x_aug: np.ndarray,
    states: np.ndarray,
    grad_w_aug: np.ndarray,
    grad_w_hh: np.ndarray,
    grad_x: np.ndarray | None,
    w_ih_t: np.ndarray | None,
) -> None:
    """A chunk of steps' shares of the GRU's weight gradients (input side with its bias
    column, hidden side) and, when asked for, its input gradient."""
    _summed_products(d_inputs, x_aug, grad_w_aug)
    _summed_products(d_hidden, states, grad_w_hh)
    if grad_x is not None and w_ih_t is not None:
        np.matmul(w_ih_t, d_inputs, out=grad_x)
