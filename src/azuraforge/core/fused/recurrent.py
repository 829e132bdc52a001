"""LSTM and GRU layers over a whole sequence, as single graph nodes.

Inside the kernels the layout is feature-major, ``(time, features, batch)``: a step's gates
are a ``(4*hidden, batch)`` block whose per-gate slices are contiguous slabs, so the
element-wise calls run at full SIMD speed (column slices of ``(batch, 4*hidden)`` were 2-3x
slower). The bias rides along as a row of ones under the input, so one product applies
weights and bias together and the bias gradient falls out of the weight gradient.

The LSTM keeps only the recurrence in its step loops, the part no thread can share: forward,
``W_hh @ h(t-1)`` added to the input projection (one product per step for the whole
sequence, made before the loop) and the gate maths; backward, the gate gradients and
``W_hh^T @ d(t)``. Everything else is handed, a chunk of finished steps at a time, to the
core's other threads (:class:`~azuraforge.core.parallel.Background`) while the loop goes on:
forward, the factors the backward step needs (activation slopes times their partners);
backward, the weight and input gradients of the steps already done. A step's own calls are
too small to split: two threads trading the GIL every few microseconds ran slower than one.

Parameters keep PyTorch's layout and gate order (LSTM ``i, f, g, o``; GRU ``r, z, n``).
Internally the LSTM gates are reordered to ``o, i, f, g`` and the sigmoid rows are scaled by
one half, so that a single ``tanh`` call gives all gates: sigmoid(x) = (tanh(x/2) + 1) / 2.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from azuraforge.core import workspace
from azuraforge.core.autograd import Grads, Needs, register_gradient
from azuraforge.core.parallel import Background, matmul_each, split
from azuraforge.core.tensor import Tensor, is_grad_enabled
from azuraforge.errors import ShapeError

# Work handed to the other threads goes in a few large pieces of the sequence: every task is
# a handful of NumPy calls, and each call a thread makes beside the step loop may take the GIL
# just when the loop wants it back (a background thread making ~10 us calls was measured to
# double the loop's time; one making a single large product cost it 4 %).
FORWARD_PIECES = 2  # tasks computing the backward's factors after the forward loop
BACKWARD_PIECES = 4  # chunks of steps whose weight and input gradients go to the other threads


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
    """Row order o, i, f, g from PyTorch's i, f, g, o."""
    h = hidden
    order: np.ndarray = np.r_[3 * h : 4 * h, 0 : 2 * h, 2 * h : 3 * h]
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
    parents = (x, w_ih, w_hh, b_ih, b_hh)
    batch, steps, features = x.shape
    hidden, dtype = w_hh.shape[1], x.dtype
    # z[t] = [h(t-1); x(t); 1] against [W_hh | W_ih | b]: the input projection of every step
    # is one product with z's lower rows, and z is what the weight gradient needs.
    weights = np.hstack([w_hh.data, w_ih.data, (b_ih.data + b_hh.data)[:, None]])
    weights = weights[_lstm_order(hidden)].astype(dtype, copy=False)
    scaled = (weights * _gate_scale(hidden, 3, dtype)[:, None]).astype(dtype, copy=False)
    z = workspace.empty((steps + 1, hidden + features + 1, batch), dtype)
    z[0, :hidden] = 0
    z[:steps, hidden:-1] = x.data.transpose(1, 2, 0)
    z[:, -1] = 1
    z[steps, hidden:-1] = 0
    gates = workspace.empty((steps, 4 * hidden, batch), dtype)
    matmul_each(scaled[:, hidden:], z[:steps, hidden:], out=gates)
    needs_grad = is_grad_enabled() and any(p.requires_grad for p in parents)
    factors = workspace.empty((steps, 6 * hidden, batch), dtype) if needs_grad else None
    background = _lstm_steps(gates, z, np.ascontiguousarray(scaled[:, :hidden]), factors)
    out = _output(z[:, :hidden], last_only)
    return Tensor._from_op(out, "lstm", parents, z, weights, factors, background, last_only)


def _lstm_steps(
    gates: np.ndarray, z: np.ndarray, w_h: np.ndarray, factors: np.ndarray | None
) -> Background:
    """Run the recurrence: ``gates`` (time, 4*hidden, batch) hold each step's input projection
    on entry and its gate values on exit, ``z[t + 1, :hidden]`` receives h(t). With
    ``factors``, the other threads then fill in what the backward pass needs
    (:func:`_lstm_factors`); the returned tasks may still be running."""
    steps, four_h, batch = gates.shape
    hidden, dtype = four_h // 4, gates.dtype
    h2, h3 = 2 * hidden, 3 * hidden
    cells = workspace.empty((steps + 1, hidden, batch), dtype)
    cells[0] = 0
    tanh_cells = workspace.empty((steps, hidden, batch), dtype)
    recurrent, product = np.empty((four_h, batch), dtype), np.empty((hidden, batch), dtype)
    for t in range(steps):
        g = gates[t]
        if t:  # h(-1) = 0
            np.matmul(w_h, z[t, :hidden], out=recurrent)
            g += recurrent
        np.tanh(g, out=g)
        sig = g[:h3]
        sig *= 0.5
        sig += 0.5
        np.multiply(g[h2:h3], cells[t], out=cells[t + 1])
        np.multiply(g[hidden:h2], g[h3:], out=product)
        cells[t + 1] += product
        np.tanh(cells[t + 1], out=tanh_cells[t])
        np.multiply(g[:hidden], tanh_cells[t], out=z[t + 1, :hidden])
    background = Background()
    if factors is not None:
        for part in split(steps, FORWARD_PIECES):
            views = (gates[part], cells[part], tanh_cells[part], factors[part])
            background.submit(partial(_lstm_factors, *views))
    return background


def _lstm_factors(
    gates: np.ndarray, cells: np.ndarray, tanh_cells: np.ndarray, factors: np.ndarray
) -> None:
    """What each backward step multiplies by, for a chunk of steps (rows of ``factors``):
    ``o' tanh(c)``, ``i' g``, ``f' c(t-1)``, ``g' i`` (the gates' slopes times their partners,
    in the gate gradient's row order o, i, f, g), then ``o (1 - tanh(c)^2)`` and ``f``."""
    hidden = gates.shape[1] // 4
    h3 = 3 * hidden
    o, i, f, g = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
    slopes = factors[:, :h3]
    np.subtract(1, gates[:, :h3], out=slopes)
    slopes *= gates[:, :h3]
    slopes[:, :hidden] *= tanh_cells
    slopes[:, hidden : 2 * hidden] *= g
    slopes[:, 2 * hidden : h3] *= cells
    cell_input = factors[:, h3 : 4 * hidden]
    np.multiply(g, g, out=cell_input)
    np.subtract(1, cell_input, out=cell_input)
    cell_input *= i
    to_cell = factors[:, 4 * hidden : 5 * hidden]
    np.multiply(tanh_cells, tanh_cells, out=to_cell)
    np.subtract(1, to_cell, out=to_cell)
    to_cell *= o
    factors[:, 5 * hidden :] = f


@register_gradient("lstm")
def _lstm_backward(
    needs: Needs,
    grad: np.ndarray,
    z: np.ndarray,
    weights: np.ndarray,
    factors: np.ndarray,
    forward_tasks: Background,
    last_only: bool,
) -> Grads:
    forward_tasks.finish()
    steps, six_h, batch = factors.shape
    hidden = six_h // 6
    h4, h5 = 4 * hidden, 5 * hidden
    d_state, steps_grad = _output_grad(grad.astype(factors.dtype, copy=False), last_only)
    w_h_t = np.ascontiguousarray(weights[:, :hidden].T)
    w_x_t = np.ascontiguousarray(weights[:, hidden:-1].T) if needs[0] else None
    d_gates = workspace.empty((steps, h4, batch), factors.dtype)
    grad_x = np.empty((steps, w_x_t.shape[0], batch), factors.dtype) if w_x_t is not None else None
    d_cell = np.zeros_like(d_state)
    d_cell_total = np.empty_like(d_state)
    blocks = (3, hidden, batch)  # the i, f, g rows, each times the cell's gradient
    chunks = split(steps, BACKWARD_PIECES)
    partials = np.empty((len(chunks), h4, z.shape[1]), factors.dtype)
    background = Background()
    for k in range(len(chunks) - 1, -1, -1):
        for t in range(chunks[k].stop - 1, chunks[k].start - 1, -1):
            if steps_grad is not None:
                d_state += steps_grad[t]
            f, d = factors[t], d_gates[t]
            np.multiply(d_state, f[h4:h5], out=d_cell_total)
            d_cell_total += d_cell
            np.multiply(d_state, f[:hidden], out=d[:hidden])
            np.multiply(d_cell_total, f[hidden:h4].reshape(blocks), out=d[hidden:].reshape(blocks))
            np.multiply(d_cell_total, f[h5:], out=d_cell)
            if t:
                np.matmul(w_h_t, d, out=d_state)
        part = chunks[k]
        gx = grad_x[part] if grad_x is not None else None
        background.submit(
            partial(_lstm_chunk_grads, d_gates[part], z[part], partials[k], w_x_t, gx)
        )
    background.finish()
    grad_weights = partials.sum(axis=0)[np.argsort(_lstm_order(hidden))]
    grad_b = grad_weights[:, -1]
    grad_in = _batch_major(grad_x) if grad_x is not None else None
    return grad_in, grad_weights[:, hidden:-1], grad_weights[:, :hidden], grad_b, grad_b


def _lstm_chunk_grads(
    d: np.ndarray,
    z: np.ndarray,
    weight_grad: np.ndarray,
    w_x_t: np.ndarray | None,
    grad_x: np.ndarray | None,
) -> None:
    """For a chunk of steps, in a few large calls: ``weight_grad = sum over t of d[t] @ z[t].T``
    (one product of the steps laid side by side), and the input's gradient
    ``grad_x[t] = W_x^T @ d[t]`` when asked for."""
    steps, rows, batch = d.shape
    side_by_side = np.ascontiguousarray(d.transpose(1, 0, 2)).reshape(rows, steps * batch)
    operands = np.ascontiguousarray(z.transpose(1, 0, 2)).reshape(z.shape[1], steps * batch)
    np.matmul(side_by_side, operands.T, out=weight_grad)
    if grad_x is not None and w_x_t is not None:
        np.matmul(w_x_t, d, out=grad_x)


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
