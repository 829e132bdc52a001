"""LSTM and GRU layers over a whole sequence, as single graph nodes.

Layout inside the kernels is time-major, ``(time, batch, features)``, so each step reads and
writes contiguous blocks. The input projection of all steps is one GEMM before the loop;
each step is one GEMM for the recurrent part plus a few element-wise calls on preallocated
buffers; the weight gradients are one GEMM each after the backward loop.

Parameters keep PyTorch's layout and gate order (LSTM ``i, f, g, o``; GRU ``r, z, n``).
Internally the LSTM gates are reordered to ``i, f, o, g`` and the sigmoid rows are scaled by
one half, so that a single ``tanh`` call gives all four gates: sigmoid(x) = (tanh(x/2)+1)/2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from azuraforge.core.autograd import Grads, Needs, register_gradient
from azuraforge.core.tensor import Tensor
from azuraforge.errors import ShapeError


def _check_sequence(x: Tensor, w_ih: Tensor, layer: str) -> None:
    if x.ndim != 3:
        raise ShapeError(
            f"{layer} expects input of shape (batch, time, features), got {x.shape}"
        )
    if x.shape[2] != w_ih.shape[1]:
        raise ShapeError(
            f"{layer} was built for {w_ih.shape[1]} input features, got {x.shape[2]} "
            f"(input shape {x.shape})"
        )


def _lstm_order(hidden: int) -> np.ndarray:
    """Row order i, f, o, g from PyTorch's i, f, g, o."""
    h = hidden
    return np.r_[0 : 2 * h, 3 * h : 4 * h, 2 * h : 3 * h]


def _gate_scale(hidden: int, sigmoid_gates: int, dtype: Any) -> np.ndarray:
    return np.r_[np.full(sigmoid_gates * hidden, 0.5), np.ones(hidden)].astype(dtype)


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
    _check_sequence(x, w_ih, "LSTM")
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    order = _lstm_order(hidden)
    scale = _gate_scale(hidden, 3, x.dtype)
    w_ih_p, w_hh_p = w_ih.data[order], w_hh.data[order]
    bias = ((b_ih.data + b_hh.data)[order] * scale).astype(x.dtype, copy=False)
    x_tm = np.ascontiguousarray(x.data.transpose(1, 0, 2))
    gates = (x_tm.reshape(steps * batch, -1) @ (w_ih_p * scale[:, None]).T + bias).reshape(
        steps, batch, 4 * hidden
    )
    w_hh_fwd_t = np.ascontiguousarray((w_hh_p * scale[:, None]).T)
    cells = np.zeros((steps + 1, batch, hidden), dtype=x.dtype)
    states = np.zeros((steps + 1, batch, hidden), dtype=x.dtype)
    tanh_cells = np.empty((steps, batch, hidden), dtype=x.dtype)
    recurrent = np.empty((batch, 4 * hidden), dtype=x.dtype)
    product = np.empty((batch, hidden), dtype=x.dtype)
    h3 = 3 * hidden
    for t in range(steps):
        g = gates[t]
        np.matmul(states[t], w_hh_fwd_t, out=recurrent)
        g += recurrent
        np.tanh(g, out=g)
        sig = g[:, :h3]
        sig *= 0.5
        sig += 0.5
        np.multiply(g[:, hidden : 2 * hidden], cells[t], out=cells[t + 1])
        np.multiply(g[:, :hidden], g[:, h3:], out=product)
        cells[t + 1] += product
        np.tanh(cells[t + 1], out=tanh_cells[t])
        np.multiply(g[:, 2 * hidden : h3], tanh_cells[t], out=states[t + 1])
    out_tm = states[-1] if last_only else states[1:]
    out = out_tm.copy() if last_only else np.ascontiguousarray(out_tm.transpose(1, 0, 2))
    saved = (x_tm, w_ih_p, w_hh_p, order, gates, cells, states, tanh_cells, last_only)
    return Tensor._from_op(out, "lstm", (x, w_ih, w_hh, b_ih, b_hh), *saved)


@register_gradient("lstm")
def _lstm_backward(
    needs: Needs,
    grad: np.ndarray,
    x_tm: np.ndarray,
    w_ih_p: np.ndarray,
    w_hh_p: np.ndarray,
    order: np.ndarray,
    gates: np.ndarray,
    cells: np.ndarray,
    states: np.ndarray,
    tanh_cells: np.ndarray,
    last_only: bool,
) -> Grads:
    steps, batch, four_h = gates.shape
    hidden = four_h // 4
    h3 = 3 * hidden
    dtype = gates.dtype
    # Derivatives of the gate activations, for all steps at once.
    slope = np.empty_like(gates)
    sig = gates[..., :h3]
    np.multiply(sig, 1 - sig, out=slope[..., :h3])
    np.multiply(gates[..., h3:], gates[..., h3:], out=slope[..., h3:])
    np.subtract(1, slope[..., h3:], out=slope[..., h3:])
    out_slope = gates[..., 2 * hidden : h3] * (1 - tanh_cells * tanh_cells)
    grad_tm = None if last_only else grad.transpose(1, 0, 2)
    d_pre = np.empty_like(gates)
    d_state = grad.astype(dtype, copy=True) if last_only else np.zeros((batch, hidden), dtype)
    d_cell = np.zeros((batch, hidden), dtype)
    d_cell_total = np.empty((batch, hidden), dtype)
    for t in range(steps - 1, -1, -1):
        if grad_tm is not None:
            d_state += grad_tm[t]
        g, d = gates[t], d_pre[t]
        np.multiply(d_state, out_slope[t], out=d_cell_total)
        d_cell_total += d_cell
        np.multiply(d_state, tanh_cells[t], out=d[:, 2 * hidden : h3])
        np.multiply(d_cell_total, g[:, h3:], out=d[:, :hidden])
        np.multiply(d_cell_total, cells[t], out=d[:, hidden : 2 * hidden])
        np.multiply(d_cell_total, g[:, :hidden], out=d[:, h3:])
        np.multiply(d_cell_total, g[:, hidden : 2 * hidden], out=d_cell)
        d *= slope[t]
        np.matmul(d, w_hh_p, out=d_state)
    flat = d_pre.reshape(steps * batch, four_h)
    inverse = np.argsort(order)
    grad_x = None
    if needs[0]:
        grad_x = (flat @ w_ih_p).reshape(steps, batch, -1).transpose(1, 0, 2)
    grad_w_ih = (flat.T @ x_tm.reshape(steps * batch, -1))[inverse] if needs[1] else None
    grad_w_hh = (flat.T @ states[:-1].reshape(steps * batch, hidden))[inverse] if needs[2] else None
    grad_b = flat.sum(axis=0)[inverse]
    return grad_x, grad_w_ih, grad_w_hh, grad_b, grad_b


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
    _check_sequence(x, w_ih, "GRU")
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    h2 = 2 * hidden
    scale = _gate_scale(hidden, 2, x.dtype)
    x_tm = np.ascontiguousarray(x.data.transpose(1, 0, 2))
    inputs = (x_tm.reshape(steps * batch, -1) @ w_ih.data.T + b_ih.data).reshape(steps, batch, -1)
    inputs[..., :h2] *= 0.5
    w_hh_fwd_t = np.ascontiguousarray((w_hh.data * scale[:, None]).T)
    b_hh_fwd = (b_hh.data * scale).astype(x.dtype, copy=False)
    states = np.zeros((steps + 1, batch, hidden), dtype=x.dtype)
    projected = np.empty((steps, batch, 3 * hidden), dtype=x.dtype)
    gates_rz = np.empty((steps, batch, h2), dtype=x.dtype)
    candidates = np.empty((steps, batch, hidden), dtype=x.dtype)
    for t in range(steps):
        hp, rz, n = projected[t], gates_rz[t], candidates[t]
        np.matmul(states[t], w_hh_fwd_t, out=hp)
        hp += b_hh_fwd
        np.add(inputs[t, :, :h2], hp[:, :h2], out=rz)
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        np.multiply(rz[:, :hidden], hp[:, h2:], out=n)
        n += inputs[t, :, h2:]
        np.tanh(n, out=n)
        h = states[t + 1]
        np.subtract(states[t], n, out=h)
        h *= rz[:, hidden:]
        h += n
    # The r and z thirds of `projected` were computed scaled by 1/2; only the n third is
    # read again, by the backward pass.
    out = states[-1].copy() if last_only else np.ascontiguousarray(states[1:].transpose(1, 0, 2))
    saved = (x_tm, w_ih.data, w_hh.data, projected[..., h2:], gates_rz, candidates, states)
    return Tensor._from_op(out, "gru", (x, w_ih, w_hh, b_ih, b_hh), *saved, last_only)


@register_gradient("gru")
def _gru_backward(
    needs: Needs,
    grad: np.ndarray,
    x_tm: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    hidden_n: np.ndarray,
    gates_rz: np.ndarray,
    candidates: np.ndarray,
    states: np.ndarray,
    last_only: bool,
) -> Grads:
    steps, batch, hidden = candidates.shape
    h2 = 2 * hidden
    dtype = candidates.dtype
    z = gates_rz[..., hidden:]
    rz_slope = gates_rz * (1 - gates_rz)
    n_slope = (1 - candidates * candidates) * (1 - z)
    z_input = states[:-1] - candidates
    grad_tm = None if last_only else grad.transpose(1, 0, 2)
    d_inputs = np.empty((steps, batch, 3 * hidden), dtype)
    d_hidden = np.empty((steps, batch, 3 * hidden), dtype)
    d_state = grad.astype(dtype, copy=True) if last_only else np.zeros((batch, hidden), dtype)
    carried = np.empty((batch, hidden), dtype)
    for t in range(steps - 1, -1, -1):
        if grad_tm is not None:
            d_state += grad_tm[t]
        di, dh = d_inputs[t], d_hidden[t]
        np.multiply(d_state, n_slope[t], out=di[:, h2:])
        np.multiply(di[:, h2:], hidden_n[t], out=di[:, :hidden])
        np.multiply(d_state, z_input[t], out=di[:, hidden:h2])
        di[:, :h2] *= rz_slope[t]
        dh[:, :h2] = di[:, :h2]
        np.multiply(di[:, h2:], gates_rz[t, :, :hidden], out=dh[:, h2:])
        np.multiply(d_state, z[t], out=carried)
        np.matmul(dh, w_hh, out=d_state)
        d_state += carried
    flat_in = d_inputs.reshape(steps * batch, -1)
    flat_hid = d_hidden.reshape(steps * batch, -1)
    grad_x = None
    if needs[0]:
        grad_x = (flat_in @ w_ih).reshape(steps, batch, -1).transpose(1, 0, 2)
    grad_w_ih = flat_in.T @ x_tm.reshape(steps * batch, -1) if needs[1] else None
    grad_w_hh = flat_hid.T @ states[:-1].reshape(steps * batch, hidden) if needs[2] else None
    return grad_x, grad_w_ih, grad_w_hh, flat_in.sum(axis=0), flat_hid.sum(axis=0)
