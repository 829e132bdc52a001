"""LSTM and GRU layers over a whole sequence, as single graph nodes.

Inside the kernels the layout is feature-major, ``(time, features, batch)``: a step's gates
are a ``(4*hidden, batch)`` block whose per-gate slices are contiguous slabs, so the
element-wise calls run at full SIMD speed (column slices of ``(batch, 4*hidden)`` were 2-3x
slower). Each forward step is one GEMM, ``[W_hh | W_ih | b] @ [h(t-1); x(t); 1]`` (the bias
rides along as a row of ones under the input), plus a few element-wise calls on preallocated
buffers. The backward loop keeps only what the recurrence needs, ``W_hh^T @ d(t)``; the
activation slopes, the weight gradients and the input gradient are products over all steps
before and after it, split over the core's threads (a step's calls are too small to split:
two Python threads trading the GIL every few microseconds ran slower than one).

Parameters keep PyTorch's layout and gate order (LSTM ``i, f, g, o``; GRU ``r, z, n``).
Internally the LSTM gates are reordered to ``i, f, o, g`` and the sigmoid rows are scaled by
one half, so that a single ``tanh`` call gives all gates: sigmoid(x) = (tanh(x/2) + 1) / 2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from azuraforge.core import workspace
from azuraforge.core.autograd import Grads, Needs, register_gradient
from azuraforge.core.parallel import (
    MIN_PIECE_PRODUCTS,
    matmul_each,
    min_items,
    parallel_for,
    parallel_sum,
)
from azuraforge.core.tensor import Tensor
from azuraforge.errors import ShapeError


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
    """Row order i, f, o, g from PyTorch's i, f, g, o."""
    h = hidden
    order: np.ndarray = np.r_[0 : 2 * h, 3 * h : 4 * h, 2 * h : 3 * h]
    return order


def _gate_scale(hidden: int, sigmoid_gates: int, dtype: Any) -> np.ndarray:
    scale: np.ndarray = np.r_[np.full(sigmoid_gates * hidden, 0.5), np.ones(hidden)]
    return scale.astype(dtype)


def _feature_major(x: np.ndarray) -> np.ndarray:
    """(batch, time, features) -> contiguous (time, features, batch)."""
    return np.ascontiguousarray(x.transpose(1, 2, 0))


def _batch_major(x: np.ndarray) -> np.ndarray:
    """(time, features, batch) -> contiguous (batch, time, features)."""
    return np.ascontiguousarray(x.transpose(2, 0, 1))


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
    batch, steps, features = x.shape
    hidden = w_hh.shape[1]
    h3 = 3 * hidden
    dtype = x.dtype
    order = _lstm_order(hidden)
    # One operand per step, z[t] = [h(t-1); x(t); 1], against [W_hh | W_ih | b]: a single GEMM
    # gives all gate pre-activations, and z is also what the weight gradient needs.
    weights = np.hstack([w_hh.data, w_ih.data, (b_ih.data + b_hh.data)[:, None]])[order]
    z = workspace.empty((steps + 1, hidden + features + 1, batch), dtype)
    z[0, :hidden] = 0
    z[:steps, hidden:-1] = x.data.transpose(1, 2, 0)
    z[:, -1] = 1
    z[steps, hidden:-1] = 0
    states = z[:, :hidden]
    weights_fwd = (weights * _gate_scale(hidden, 3, dtype)[:, None]).astype(dtype, copy=False)
    gates = workspace.empty((steps, 4 * hidden, batch), dtype)
    cells = workspace.empty((steps + 1, hidden, batch), dtype)
    cells[0] = 0
    tanh_cells = workspace.empty((steps, hidden, batch), dtype)
    product = np.empty((hidden, batch), dtype)
    for t in range(steps):
        g = gates[t]
        np.matmul(weights_fwd, z[t], out=g)
        np.tanh(g, out=g)
        sig = g[:h3]
        sig *= 0.5
        sig += 0.5
        np.multiply(g[hidden : 2 * hidden], cells[t], out=cells[t + 1])
        np.multiply(g[:hidden], g[h3:], out=product)
        cells[t + 1] += product
        np.tanh(cells[t + 1], out=tanh_cells[t])
        np.multiply(g[2 * hidden : h3], tanh_cells[t], out=states[t + 1])
    saved = (z, weights.astype(dtype, copy=False), order, gates, cells, tanh_cells, last_only)
    return Tensor._from_op(_output(states, last_only), "lstm", (x, w_ih, w_hh, b_ih, b_hh), *saved)


def _gate_slopes(gates: np.ndarray, hidden: int) -> np.ndarray:
    """Every step's activation slopes at once, on the core's threads: s * (1 - s) for the
    sigmoid gates, 1 - g**2 for the cell input (rows i, f, o, g)."""
    slopes = workspace.empty_like(gates)
    h3 = 3 * hidden

    def steps(part: slice) -> None:
        g, slope = gates[part], slopes[part]
        np.subtract(1, g, out=slope)
        slope[:, :h3] *= g[:, :h3]
        cell_input = g[:, h3:]
        np.multiply(cell_input, cell_input, out=slope[:, h3:])
        np.subtract(1, slope[:, h3:], out=slope[:, h3:])

    parallel_for(steps, gates.shape[0], min_items(gates[0].size))
    return slopes


def _summed_step_products(d: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``sum over t of d[t] @ z[t].T``: each thread adds up its own steps' products."""

    def steps(part: slice) -> np.ndarray:
        total = np.zeros((d.shape[1], z.shape[1]), d.dtype)
        product = np.empty_like(total)
        for t in range(part.start, part.stop):
            np.matmul(d[t], z[t].T, out=product)
            total += product
        return total

    per_step = d.shape[1] * d.shape[2] * z.shape[1]
    return parallel_sum(steps, d.shape[0], min_items(per_step, MIN_PIECE_PRODUCTS))


@register_gradient("lstm")
def _lstm_backward(
    needs: Needs,
    grad: np.ndarray,
    z: np.ndarray,
    weights: np.ndarray,
    order: np.ndarray,
    gates: np.ndarray,
    cells: np.ndarray,
    tanh_cells: np.ndarray,
    last_only: bool,
) -> Grads:
    steps, four_h, _ = gates.shape
    hidden = four_h // 4
    h3 = 3 * hidden
    out_slope = gates[:, 2 * hidden : h3] * (1 - tanh_cells * tanh_cells)
    slopes = _gate_slopes(gates, hidden)
    d_state, steps_grad = _output_grad(grad.astype(gates.dtype, copy=False), last_only)
    # Only dh(t-1) = W_hh^T d(t) is needed inside the loop; the input and weight gradients
    # are products over every step's gate gradient d(t) afterwards, split over the threads.
    w_h_t = np.ascontiguousarray(weights[:, :hidden].T)
    d_gates = workspace.empty_like(gates)
    d_cell = np.zeros_like(d_state)
    d_cell_total = np.empty_like(d_state)
    for t in range(steps - 1, -1, -1):
        if steps_grad is not None:
            d_state += steps_grad[t]
        g, d = gates[t], d_gates[t]
        np.multiply(d_state, out_slope[t], out=d_cell_total)
        d_cell_total += d_cell
        np.multiply(d_state, tanh_cells[t], out=d[2 * hidden : h3])
        np.multiply(d_cell_total, g[h3:], out=d[:hidden])
        np.multiply(d_cell_total, cells[t], out=d[hidden : 2 * hidden])
        np.multiply(d_cell_total, g[:hidden], out=d[h3:])
        np.multiply(d_cell_total, g[hidden : 2 * hidden], out=d_cell)
        d *= slopes[t]
        if t:
            np.matmul(w_h_t, d, out=d_state)
    grad_weights = _summed_step_products(d_gates, z)[np.argsort(order)]
    grad_x = None
    if needs[0]:
        w_x_t = np.ascontiguousarray(weights[:, hidden:-1].T)
        grad_x = np.ascontiguousarray(matmul_each(w_x_t, d_gates).transpose(2, 0, 1))
    grad_b = grad_weights[:, -1]
    return grad_x, grad_weights[:, hidden:-1], grad_weights[:, :hidden], grad_b, grad_b


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
    d_inputs = np.empty((steps, 3 * hidden, d_state.shape[1]), candidates.dtype)
    d_hidden = np.empty_like(d_inputs)
    carried = np.empty_like(d_state)
    w_hh_t = np.ascontiguousarray(w_hh.T)
    # Weight gradients accumulate while each step's block is still in cache.
    grad_w_aug, product_aug = np.zeros((2, 3 * hidden, x_aug.shape[1]), candidates.dtype)
    grad_w_hh, product_hh = np.zeros((2, 3 * hidden, hidden), candidates.dtype)
    for t in range(steps - 1, -1, -1):
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
        np.matmul(di, x_aug[t].T, out=product_aug)
        grad_w_aug += product_aug
        np.matmul(dh, states[t].T, out=product_hh)
        grad_w_hh += product_hh
    grad_x = _batch_major(np.matmul(w_ih.T, d_inputs)) if needs[0] else None
    grad_b_hh = d_hidden.sum(axis=2).sum(axis=0)
    return grad_x, grad_w_aug[:, :-1], grad_w_hh, grad_w_aug[:, -1], grad_b_hh
