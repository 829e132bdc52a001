"""The array-module seam: NumPy by default, clear refusals otherwise."""

import numpy as np
import pytest

from azuraforge.core.backend import array_module
from azuraforge.errors import InvalidParameterError


@pytest.mark.parametrize("device", [None, "cpu", "CPU"])
def test_cpu_is_numpy(device, monkeypatch):
    if device is None:
        monkeypatch.delenv("AZURAFORGE_DEVICE", raising=False)
    else:
        monkeypatch.setenv("AZURAFORGE_DEVICE", device)
    assert array_module() is np


def test_cuda_is_refused_with_advice(monkeypatch):
    monkeypatch.setenv("AZURAFORGE_DEVICE", "cuda")
    with pytest.raises(
        InvalidParameterError, match=r"ships no GPU backend.*unset AZURAFORGE_DEVICE"
    ):
        array_module()


def test_an_unknown_device_is_refused(monkeypatch):
    monkeypatch.setenv("AZURAFORGE_DEVICE", "tpu")
    with pytest.raises(InvalidParameterError, match="must be one of cpu, cuda, got 'tpu'"):
        array_module()
