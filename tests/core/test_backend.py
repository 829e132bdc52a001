"""The array-module seam: NumPy by default, chosen once, clear refusals otherwise."""

import numpy as np
import pytest

from azuraforge.core import Tensor, backend
from azuraforge.core.backend import array_module, get_device, set_device
from azuraforge.errors import InvalidParameterError


@pytest.fixture
def unchosen(monkeypatch):
    """No device chosen yet, as in a fresh process; the previous choice comes back after."""
    monkeypatch.setattr(backend, "_device", None)


@pytest.mark.parametrize("device", [None, "cpu", "CPU"])
def test_cpu_is_numpy(device, monkeypatch, unchosen):
    if device is None:
        monkeypatch.delenv("AZURAFORGE_DEVICE", raising=False)
    else:
        monkeypatch.setenv("AZURAFORGE_DEVICE", device)
    assert array_module() is np
    assert get_device() == "cpu"


def test_the_environment_is_read_once_at_the_first_tensor(monkeypatch, unchosen):
    monkeypatch.setenv("AZURAFORGE_DEVICE", "cpu")
    Tensor([1.0])
    monkeypatch.setenv("AZURAFORGE_DEVICE", "cuda")
    assert Tensor([2.0]).numpy().tolist() == [2.0]
    monkeypatch.setenv("AZURAFORGE_DEVICE", "tpu")
    assert get_device() == "cpu" and array_module() is np


def test_cuda_from_the_environment_is_refused_with_advice(monkeypatch, unchosen):
    monkeypatch.setenv("AZURAFORGE_DEVICE", "cuda")
    with pytest.raises(
        InvalidParameterError,
        match=r"AZURAFORGE_DEVICE=cuda: this build ships no GPU backend.*unset AZURAFORGE_DEVICE",
    ):
        Tensor([1.0])


def test_an_unknown_device_from_the_environment_is_refused(monkeypatch, unchosen):
    monkeypatch.setenv("AZURAFORGE_DEVICE", "tpu")
    with pytest.raises(InvalidParameterError, match="must be one of cpu, cuda, got 'tpu'"):
        array_module()


def test_set_device_overrides_the_environment(monkeypatch, unchosen):
    monkeypatch.setenv("AZURAFORGE_DEVICE", "tpu")
    set_device("CPU")
    assert get_device() == "cpu" and Tensor([1.0]).numpy().tolist() == [1.0]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cuda", r"set_device\('cuda'\): this build ships no GPU backend.*set_device\('cpu'\)"),
        ("tpu", r"set_device\('tpu'\): the device must be one of cpu, cuda, got 'tpu'"),
        (0, r"set_device\(0\): the device must be one of cpu, cuda, got 0"),
    ],
)
def test_set_device_refuses_what_this_build_cannot_run(name, message, unchosen):
    set_device("cpu")
    with pytest.raises(InvalidParameterError, match=message):
        set_device(name)
    assert get_device() == "cpu"
