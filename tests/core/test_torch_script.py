"""A PyTorch user's script runs as written: each snippet runs on PyTorch and on our core, on the
same data, and gives the same values and gradients (``torch`` is the reference, installed by
``make test``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from azuraforge.core import Tensor, nn
from azuraforge.core.nn import functional as F
from azuraforge.errors import InvalidParameterError, ShapeError
from tests.helpers import rng

torch = pytest.importorskip("torch")

X = rng(3).standard_normal((3, 2, 4, 5))
"""The input of every snippet, float64 so that values agree to 1e-10."""

# Each snippet takes (tensor, F) and returns a tensor (or a list of them) built the way a
# PyTorch script builds it; the same code runs on torch.Tensor and torch.nn.functional.
SNIPPETS: dict[str, Callable[[Any, Any], Any]] = {
    "for row in t": lambda t, F: [row * 2 for row in t],
    "a, b, c = t": lambda t, F: (lambda a, b, c: [a + c, b])(*t),
    "list(t)": lambda t, F: list(t)[1:],
    "view(-1, n)": lambda t, F: t.view(-1, 20),
    "reshape(-1, n)": lambda t, F: t.reshape(3, -1),
    "unsqueeze": lambda t, F: t.unsqueeze(1).unsqueeze(-1),
    "squeeze(dim)": lambda t, F: t[:, :1].squeeze(1),
    "squeeze() of size-1 axes": lambda t, F: t[:1, :, :1].squeeze(),
    "squeeze(dim) of a longer axis": lambda t, F: t.squeeze(0),
    "flatten(1)": lambda t, F: t.flatten(1),
    "permute": lambda t, F: t.permute(0, 2, 3, 1),
    "max(dim) values": lambda t, F: t.max(1)[0],
    "min(dim=...) values": lambda t, F: t.min(dim=-1).values,
    "F.relu, F.gelu": lambda t, F: (
        F.gelu(F.relu(t), approximate="tanh") if hasattr(t, "grad_fn") else F.gelu(F.relu(t))
    ),
    "F.softmax(dim=)": lambda t, F: F.softmax(t, dim=1),
    "F.log_softmax(dim=)": lambda t, F: F.log_softmax(t, dim=-1),
    "F.max_pool2d": lambda t, F: F.max_pool2d(t, 2),
    "F.adaptive_avg_pool2d(1)": lambda t, F: F.adaptive_avg_pool2d(t, 1),
    "F.adaptive_avg_pool2d((3, 2))": lambda t, F: F.adaptive_avg_pool2d(t, (3, 2)),
    "F.mse_loss": lambda t, F: F.mse_loss(t, t * 0 + 0.5),
}


def run(snippet: Callable[[Any, Any], Any], tensor: Any, functional: Any) -> list[Any]:
    out = snippet(tensor, functional)
    return list(out) if isinstance(out, list | tuple) else [out]


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_a_snippet_gives_torchs_values_and_gradients(name):
    ours = Tensor(X, requires_grad=True, dtype=np.float64)
    theirs = torch.tensor(X, requires_grad=True)
    mine = run(SNIPPETS[name], ours, F)
    reference = run(SNIPPETS[name], theirs, torch.nn.functional)
    assert [m.shape for m in mine] == [tuple(r.shape) for r in reference]
    for m, r in zip(mine, reference, strict=True):
        np.testing.assert_allclose(m.data, r.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = [rng(i).standard_normal(m.shape) for i, m in enumerate(mine)]
    sum((m * w).sum() for m, w in zip(mine, weights, strict=True)).backward()
    sum((r * torch.tensor(w)).sum() for r, w in zip(reference, weights, strict=True)).backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_max_and_min_along_a_dim_are_values_and_indices():
    data = rng(1).standard_normal((4, 6))
    for method in ("max", "min"):
        values, indices = getattr(Tensor(data), method)(1)
        expected = getattr(torch.tensor(data), method)(1)
        np.testing.assert_allclose(values.data, expected.values.numpy(), rtol=1e-6)
        assert indices.dtype == np.int64
        np.testing.assert_array_equal(indices.data, expected.indices.numpy())
        kept = getattr(Tensor(data), method)(dim=0, keepdim=True)
        assert kept.values.shape == kept.indices.shape == (1, 6)
    assert Tensor(data).max().item() == pytest.approx(data.max())  # no dim: the maximum
    assert Tensor(data).max(axis=0).shape == (6,)  # NumPy's keyword: values only


def test_sizes_lengths_dtypes_and_devices_as_torch_says():
    ours, theirs = Tensor(X), torch.tensor(X)
    assert len(ours) == len(theirs) and ours.shape[0] == theirs.shape[0]
    assert ours.size() == tuple(theirs.size()) and ours.size(-2) == theirs.size(-2)
    assert ours.size == theirs.numel() == ours.numel()  # NumPy's .size stays the count
    assert ours.long().dtype == np.int64 and ours.int().dtype == np.int32
    np.testing.assert_array_equal(ours.long().data, theirs.long().numpy())
    assert ours.to("cpu") is ours and ours.to("cpu:0") is ours
    assert ours.to(np.float32).dtype == np.float32 and ours.to("float64").dtype == np.float64
    with pytest.raises(InvalidParameterError, match="runs on the CPU only"):
        ours.to("cuda")
    with pytest.raises(InvalidParameterError, match="takes 'cpu' or a dtype"):
        ours.to(object())
    with pytest.raises(ShapeError, match="dim 4 is out of range"):
        ours.size(4)
    with pytest.raises(ShapeError, match="unsqueeze: dim 5 is out of range"):
        ours.unsqueeze(5)


def test_equality_is_identity_and_says_to_use_eq_when_used_as_a_tensor():
    """Kept as before (tensors in sets, dicts and ``in``), and now said where it bites: the
    accuracy line ``(pred == y).float().mean()`` of a PyTorch script."""
    a, b = Tensor([1.0, 2.0]), Tensor([1.0, 2.0])
    assert a == a and a != b and bool(a == b) is False
    assert len({a, b}) == 2 and a in [b, a]
    with pytest.raises(AttributeError, match=r"use a\.eq\(b\)"):
        (a == b).float()
    np.testing.assert_array_equal(a.eq(b).float().data, [1.0, 1.0])


@pytest.mark.parametrize(("kernel", "size"), [(3, (7, 6)), (4, (7, 6)), ((2, 5), (5, 8))])
def test_conv2d_padding_same_keeps_the_size_as_torch(kernel, size):
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(2, 3, kernel, padding="same").double()
    ours = nn.Conv2d(2, 3, kernel, padding="same")
    ours.weight.data = theirs.weight.detach().numpy().copy()
    ours.bias.data = theirs.bias.detach().numpy().copy()
    x = rng(2).standard_normal((2, 2, *size))
    mine, reference = ours(Tensor(x, dtype=np.float64)), theirs(torch.tensor(x))
    assert mine.shape == tuple(reference.shape) == (2, 3, *size)
    np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=1e-9, atol=1e-10)
    assert nn.Conv2d(2, 3, kernel, padding="valid")(Tensor(x)).shape == tuple(
        torch.nn.Conv2d(2, 3, kernel, padding="valid")(torch.tensor(x).float()).shape
    )


def test_conv2d_padding_words_are_checked():
    with pytest.raises(InvalidParameterError, match="padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(InvalidParameterError, match="'same' or 'valid', got 'full'"):
        nn.Conv2d(1, 1, 3, padding="full")


def test_a_small_cnn_written_for_torch_trains_on_the_core():
    """The user's port: Conv2d(padding='same'), AdaptiveAvgPool2d, F.relu, flatten, max(1)
    for the predicted class, eq for the accuracy."""
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding="same"), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(16, 2),
    )  # fmt: skip
    images = rng(0).standard_normal((32, 1, 6, 6)).astype(np.float32)
    labels = (images[:, 0, :3].mean(axis=(1, 2)) > images[:, 0, 3:].mean(axis=(1, 2))).astype(
        np.int64
    )
    from azuraforge.core import optim

    optimizer = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(Tensor(images)), labels)
        loss.backward()
        optimizer.step()
    _, predicted = model(Tensor(images)).max(1)
    accuracy = predicted.eq(Tensor(labels)).float().mean().item()
    assert accuracy > max(labels.mean(), 1 - labels.mean())  # beats the majority class
