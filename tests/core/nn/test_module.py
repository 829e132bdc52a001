"""Module and Parameter: discovery by attribute, modes, dtype conversion, state dicts, repr."""

import numpy as np
import pytest

from azuraforge.core import Tensor, manual_seed, nn
from azuraforge.errors import InvalidParameterError, NotFoundError, ShapeError


class Block(nn.Module):
    def __init__(self, width: int, shared: nn.Linear | None = None):
        self.inner = nn.Linear(width, width)
        self.shared = shared
        self.norm = nn.BatchNorm1d(width)

    def forward(self, x):
        return self.norm(self.inner(x))


class Net(nn.Module):
    def __init__(self, width: int = 3):
        head = nn.Linear(width, 1)
        self.blocks = [Block(width, shared=head), Block(width)]
        self.head = head
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.not_a_layer = "text"

    def forward(self, x):
        for block in self.blocks:
            x = block(x).relu()
        return self.head(x) * self.scale


@pytest.fixture(autouse=True)
def _seed():
    manual_seed(0)


def test_parameters_are_found_by_walking_attributes_and_lists():
    names = [name for name, _ in Net().named_parameters()]
    assert names == [
        "scale",  # a module's own parameters come before its children's, as in PyTorch
        "blocks.0.inner.weight",
        "blocks.0.inner.bias",
        "blocks.0.shared.weight",  # the head, shared: listed once, under its first name
        "blocks.0.shared.bias",
        "blocks.0.norm.weight",
        "blocks.0.norm.bias",
        "blocks.1.inner.weight",
        "blocks.1.inner.bias",
        "blocks.1.norm.weight",
        "blocks.1.norm.bias",
    ]
    net = Net()
    assert net.parameters()[3] is net.head.weight


def test_buffers_are_the_non_parameter_tensors():
    names = [name for name, _ in nn.BatchNorm1d(2).named_buffers()]
    assert names == ["running_mean", "running_var"]
    assert all(not b.requires_grad for _, b in nn.BatchNorm1d(2).named_buffers())


def test_train_and_eval_reach_every_descendant():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_to_converts_parameters_and_buffers_and_drops_gradients():
    net = Net()
    net(Tensor(np.ones((4, 3)))).sum().backward()
    net.to(np.float64)
    tensors = [*net.named_parameters(), *net.named_buffers()]
    assert all(t.dtype == np.float64 for _, t in tensors)
    assert all(p.grad is None for p in net.parameters())
    assert net(Tensor(np.ones((4, 3)), dtype=np.float64)).dtype == np.float64


def test_state_dict_holds_copies_of_parameters_and_buffers():
    net = Net()
    state = net.state_dict()
    assert "blocks.1.norm.running_var" in state
    state["scale"][0] = 42.0
    assert net.scale.data[0] == 1.0


def test_load_state_dict_round_trip():
    source, target = Net(), Net()
    target.load_state_dict(source.state_dict())
    x = Tensor(np.random.default_rng(0).normal(size=(4, 3)))
    np.testing.assert_array_equal(source(x).data, target(x).data)


def test_load_state_dict_keeps_the_model_dtype():
    net = nn.Linear(2, 1).to(np.float64)
    net.load_state_dict({"weight": np.ones((1, 2), np.float32), "bias": np.zeros(1, np.float32)})
    assert net.weight.dtype == np.float64


def test_load_state_dict_reports_missing_and_unexpected_names():
    state = nn.Linear(2, 1).state_dict()
    state["extra"] = state.pop("bias")
    with pytest.raises(NotFoundError, match=r"missing \['bias'\], unexpected \['extra'\]"):
        nn.Linear(2, 1).load_state_dict(state)
    target = nn.Linear(2, 1)
    target.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(target.weight.data, state["weight"])


def test_load_state_dict_rejects_a_wrong_shape():
    with pytest.raises(
        ShapeError, match=r"weight: saved array has shape \(2, 2\), the model expects \(1, 2\)"
    ):
        nn.Linear(2, 1).load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(1)})


def test_module_zero_grad():
    net = Net()
    net(Tensor(np.ones((4, 3)))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_parameter_requires_grad_and_keeps_floating_dtypes():
    assert nn.Parameter(np.zeros(2)).dtype == np.float64
    assert nn.Parameter(np.zeros(2, np.float32)).requires_grad
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32


def test_a_module_without_forward_says_so():
    class Empty(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match="Empty does not define forward"):
        Empty()(Tensor([1.0]))


class Stack(nn.Module):
    def __init__(self, first: nn.Module, *rest: nn.Module, scale: float = 1.0, **options: int):
        self.layers = [first, *rest]


def test_constructor_arguments_are_recorded_by_name():
    assert nn.Linear(3, 2)._init_arguments == {"in_features": 3, "out_features": 2, "bias": True}
    assert nn.HuberLoss(delta=0.5)._init_arguments == {"delta": 0.5, "reduction": "mean"}
    assert Net(width=4)._init_arguments == {"width": 4}
    relu, tanh, sigmoid = nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    assert Stack(relu, tanh, sigmoid, depth=2)._init_arguments == {
        "first": relu,
        "rest": [tanh, sigmoid],
        "scale": 1.0,
        "depth": 2,
    }


def test_repr_lists_arguments_and_children():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Dropout(0.1))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.1)\n"
        ")"
    )


LAYERS_WITH_PARAMETERS = {
    "Linear": (lambda: nn.Linear(3, 2), (4, 3)),
    "Conv2d": (lambda: nn.Conv2d(1, 2, kernel_size=3), (2, 1, 4, 4)),
    "LSTM": (lambda: nn.LSTM(3, 2, num_layers=2), (2, 4, 3)),
    "GRU": (lambda: nn.GRU(3, 2, num_layers=2), (2, 4, 3)),
    "LayerNorm": (lambda: nn.LayerNorm(3), (4, 3)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (4, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(1), (2, 1, 3, 3)),
    "Embedding": (lambda: nn.Embedding(5, 3), None),
}


@pytest.mark.parametrize("name", LAYERS_WITH_PARAMETERS)
def test_every_parameter_gets_a_gradient_when_the_input_needs_none(name):
    # The engine this core replaced took requires_grad from the input alone, so a first
    # layer (fed plain data) never trained.
    make, shape = LAYERS_WITH_PARAMETERS[name]
    layer = make()
    g = np.random.default_rng(0)
    x = Tensor(np.array([[0, 4, 2]])) if shape is None else Tensor(g.normal(size=shape))
    assert not x.requires_grad
    out = layer(x)
    assert out.requires_grad
    (out * Tensor(g.normal(size=out.shape))).sum().backward()
    for param_name, param in layer.named_parameters():
        assert param.grad is not None, param_name
        assert np.any(param.grad != 0), param_name


def test_load_state_dict_changes_nothing_when_a_shape_is_wrong():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    before = model.state_dict()
    state = {k: np.zeros_like(v) for k, v in before.items()}
    state["1.weight"] = np.zeros((5, 5))
    with pytest.raises(ShapeError, match=r"1\.weight"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


class _Banks(nn.Module):
    def __init__(self):
        self.banks = [nn.Parameter(np.ones(2)), nn.Parameter(np.zeros(3))]


def test_parameters_held_in_a_list_are_found():
    assert [name for name, _ in _Banks().named_parameters()] == ["banks.0", "banks.1"]


def test_to_refuses_a_non_floating_dtype():
    with pytest.raises(InvalidParameterError, match="floating dtype"):
        nn.Linear(2, 2).to(np.int32)


NUMPY_INPUTS = {
    "Linear": (lambda: nn.Linear(3, 2), (4, 3)),
    "ReLU": (nn.ReLU, (2, 3, 4)),
    "LeakyReLU": (nn.LeakyReLU, (2, 3, 4)),
    "Tanh": (nn.Tanh, (2, 3, 4)),
    "Sigmoid": (nn.Sigmoid, (2, 3, 4)),
    "GELU": (nn.GELU, (2, 3, 4)),
    "Softmax": (nn.Softmax, (2, 3, 4)),
    "Flatten": (nn.Flatten, (2, 3, 4)),
    "Dropout": (nn.Dropout, (2, 3, 4)),
    "Embedding": (lambda: nn.Embedding(5, 3), "indices"),
    "LayerNorm": (lambda: nn.LayerNorm(3), (4, 3)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (4, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(1), (2, 1, 3, 3)),
    "Sequential": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), (2, 1, 4, 4)),
    "Conv2d": (lambda: nn.Conv2d(1, 2, kernel_size=3), (2, 1, 4, 4)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (2, 1, 4, 4)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (2, 1, 4, 4)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 1, 5, 4)),
    "LSTM": (lambda: nn.LSTM(3, 2), (2, 4, 3)),
    "GRU": (lambda: nn.GRU(3, 2), (2, 4, 3)),
    "MSELoss": (nn.MSELoss, "regression"),
    "L1Loss": (nn.L1Loss, "regression"),
    "HuberLoss": (nn.HuberLoss, "regression"),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss, "regression"),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, "classes"),
}


def _numpy_arguments(kind):
    g = np.random.default_rng(0)
    if kind == "indices":
        return (np.array([[0, 4, 2]]),)
    if kind == "regression":
        return g.normal(size=(4, 1)), g.uniform(size=(4, 1))
    if kind == "classes":
        return g.normal(size=(4, 3)), np.array([0, 2, 1, 2])
    return (g.normal(size=kind),)


def test_every_built_in_layer_and_loss_is_covered_by_the_numpy_input_test():
    classes = [getattr(nn, name) for name in nn.__all__]
    built_in = {nn.find_architecture_name(c) for c in classes if isinstance(c, type)} - {None}
    assert built_in == set(NUMPY_INPUTS)


@pytest.mark.parametrize("name", NUMPY_INPUTS)
def test_every_built_in_layer_and_loss_accepts_a_numpy_array(name):
    # Conv2D, MaxPool2D and LSTM used to fail on arrays ('memoryview' has no 'transpose').
    make, kind = NUMPY_INPUTS[name]
    layer = make().eval()
    arguments = _numpy_arguments(kind)
    out = layer(*arguments)
    assert isinstance(out, Tensor)
    as_tensor = layer(Tensor(arguments[0]), *arguments[1:])
    assert out.dtype == as_tensor.dtype == np.float32
    np.testing.assert_array_equal(out.data, as_tensor.data)


def test_a_float64_model_keeps_a_float64_array_input_in_float64():
    layer = nn.Linear(3, 1).to(np.float64)
    x = np.random.default_rng(1).normal(size=(2, 3))
    out = layer(x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, x @ layer.weight.data.T + layer.bias.data)
