"""save/load: architecture and weights round trip, old files, nothing imported, atomic writes."""

import importlib
import io
import json
import os
import stat
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from azuraforge.core import Tensor, load, manual_seed, nn, no_grad, save
from azuraforge.core.nn import init, registry
from azuraforge.core.random import generator
from azuraforge.errors import InvalidParameterError, NotFoundError, SchemaMismatchError
from tests.helpers import rng

FORMAT1 = Path(__file__).parent / "assets" / "format1"
_HEADER = "__azuraforge__"


@nn.register_architecture("tiny-forecaster")
class TinyForecaster(nn.Module):
    """A user-defined model, registered so save() can name it and load() rebuild it."""

    def __init__(self, features: int, hidden: int = 4, head: nn.Module | None = None):
        self.encoder = nn.GRU(features, hidden, return_sequences=True)
        self.norm = nn.LayerNorm(hidden)
        self.head = head if head is not None else nn.Linear(hidden, 1)

    def forward(self, x):
        return self.head(self.norm(self.encoder(x))[:, -1])


@pytest.fixture(autouse=True)
def _seed():
    manual_seed(0)


def _round_trip(model, x, tmp_path):
    expected = model(x).data
    path = save(model, tmp_path / "model.npz")
    restored = load(path)
    assert type(restored) is type(model)
    assert restored is not model
    np.testing.assert_array_equal(restored(x).data, expected)
    state, restored_state = model.state_dict(), restored.state_dict()
    assert list(restored_state) == list(state)
    for name, value in state.items():
        np.testing.assert_array_equal(restored_state[name], value, err_msg=name)
        assert restored_state[name].dtype == value.dtype
    return restored


def test_sequential_mlp_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.Dropout(0.2), nn.Linear(5, 2))
    model.eval()
    restored = _round_trip(model, Tensor(rng(1).normal(size=(4, 3))), tmp_path)
    assert not restored.training
    assert restored[2].p == 0.2


def test_lstm_model_round_trip(tmp_path):
    model = nn.Sequential(nn.LSTM(2, 4, num_layers=2, return_sequences=False), nn.Linear(4, 1))
    restored = _round_trip(model, Tensor(rng(2).normal(size=(3, 5, 2))), tmp_path)
    assert restored[0].num_layers == 2
    assert restored.training


def test_cnn_round_trip(tmp_path):
    model = nn.Sequential(
        nn.Conv2d(1, 2, kernel_size=3, stride=(1, 2), padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * 3 * 2, 3),
    )
    _round_trip(model, Tensor(rng(3).normal(size=(2, 1, 6, 7))), tmp_path)


def test_batch_norm_model_round_trip_restores_running_stats_and_eval_mode(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))
    for seed in range(3):  # move the running statistics away from their initial values
        model(Tensor(rng(seed).normal(size=(8, 3)) * 3 + 1))
    assert not np.allclose(model[1].running_mean.data, 0)
    model.eval()
    restored = _round_trip(model, Tensor(rng(4).normal(size=(5, 3))), tmp_path)
    assert not restored.training
    assert not restored[1].training
    np.testing.assert_array_equal(restored[1].running_var.data, model[1].running_var.data)


def test_user_defined_module_round_trip(tmp_path):
    model = TinyForecaster(3, hidden=5, head=nn.Sequential(nn.Linear(5, 2), nn.Tanh()))
    restored = _round_trip(model, Tensor(rng(5).normal(size=(2, 4, 3))), tmp_path)
    assert isinstance(restored, TinyForecaster)
    assert isinstance(restored.head, nn.Sequential)


def test_float64_model_round_trip_keeps_its_dtype(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh()).to(np.float64)
    restored = _round_trip(model, Tensor(rng(6).normal(size=(2, 2)), dtype=np.float64), tmp_path)
    assert restored[0].weight.dtype == np.float64


def test_save_appends_npz_and_writes_atomically(tmp_path):
    path = save(nn.Linear(2, 1), tmp_path / "nested" / "linear")
    assert path == tmp_path / "nested" / "linear.npz"
    assert os.listdir(tmp_path / "nested") == ["linear.npz"]


def test_a_failed_save_leaves_no_temp_file_and_the_old_model_intact(tmp_path, monkeypatch):
    path = save(nn.Linear(2, 1), tmp_path / "model.npz")
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save(nn.Linear(2, 1), path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"]
    assert path.read_bytes() == before


def test_load_of_a_missing_file_raises_not_found(tmp_path):
    with pytest.raises(NotFoundError, match=r"no model file at .*missing\.npz"):
        load(tmp_path / "missing.npz")


def test_load_of_a_plain_npz_raises_schema_mismatch(tmp_path):
    np.savez(tmp_path / "data.npz", weights=np.ones(3))
    with pytest.raises(SchemaMismatchError, match="is not an AzuraForge model file"):
        load(tmp_path / "data.npz")


def test_load_of_a_file_that_is_not_npz_raises_schema_mismatch(tmp_path):
    (tmp_path / "notes.npz").write_text("not a zip archive")
    with pytest.raises(SchemaMismatchError, match=r"is not a readable \.npz model file"):
        load(tmp_path / "notes.npz")


def test_load_of_a_newer_format_raises_schema_mismatch(tmp_path):
    header = {"format": "azuraforge.module", "format_version": 99, "architecture": {}}
    np.savez(tmp_path / "future.npz", __azuraforge__=np.array(json.dumps(header)))
    with pytest.raises(SchemaMismatchError, match=r"version 99.*upgrade azuraforge"):
        load(tmp_path / "future.npz")


class Unregistered(nn.Module):
    def __init__(self, width: int):
        self.layer = nn.Linear(width, 1)


def test_save_refuses_an_unregistered_class_and_says_how_to_register_it(tmp_path):
    with pytest.raises(InvalidParameterError) as error:
        save(nn.Sequential(Unregistered(2)), tmp_path / "model.npz")
    message = str(error.value)
    assert "cannot save Unregistered: it is not a registered architecture" in message
    assert "@register_architecture('Unregistered')" in message
    assert '[project.entry-points."azuraforge.architectures"]' in message
    assert os.listdir(tmp_path) == []


def test_a_file_stores_registered_names_and_keyword_arguments(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, stride=(1, 2)), nn.Flatten())
    header = _header(save(model, tmp_path / "model"))
    assert header["format_version"] == 2
    assert header["architecture"] == {
        "name": "Sequential",
        "kwargs": {
            "layers": [
                {
                    "module": {
                        "name": "Conv2d",
                        "kwargs": {
                            "in_channels": 1,
                            "out_channels": 2,
                            "kernel_size": 3,
                            "stride": {"tuple": [1, 2]},
                            "padding": 0,
                            "bias": True,
                        },
                    }
                },
                {"module": {"name": "Flatten", "kwargs": {"start_dim": 1, "end_dim": -1}}},
            ]
        },
    }
    assert sorted(np.load(tmp_path / "model.npz").files) == ["0.bias", "0.weight", _HEADER]


def test_a_plugin_architecture_saves_under_its_entry_point_name(tmp_path):
    from azuraforge.apps.forecasting import SequenceRegressor

    model = SequenceRegressor(3, 4, 1, 0.0)
    header = _header(save(model, tmp_path / "model"))
    assert header["architecture"]["name"] == "sequence-regressor"
    _round_trip(model, Tensor(rng(7).normal(size=(2, 5, 3))), tmp_path)


def _header(path):
    with np.load(path) as archive:
        return json.loads(str(archive[_HEADER]))


def _write_header(path, architecture, version=1, state=None):
    """A hand-made model file: the header naming ``architecture``, plus ``state`` arrays."""
    header = {"format": "azuraforge.module", "format_version": version}
    header_array = np.array(json.dumps({**header, "architecture": architecture}))
    np.savez(path, __azuraforge__=header_array, **(state or {}))
    return path


class ImportWatch:
    """What loading imports: modules importlib is asked for, and modules new in sys.modules."""

    def __init__(self):
        self.requested = []
        self.before = set(sys.modules)

    def new_modules(self):
        return sorted(set(sys.modules) - self.before)


@pytest.fixture
def imports(monkeypatch, tmp_path):
    warm_up = _write_header(tmp_path / "warm-up.npz", {"name": "warm-up", "kwargs": {}}, 2)
    with pytest.raises(NotFoundError):  # the first load imports what reading files needs
        load(warm_up)
    watch = ImportWatch()
    real = importlib.import_module

    def spy(name, package=None):
        watch.requested.append(name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", spy)
    return watch


@pytest.mark.parametrize(
    "path",
    ["os:system", "tabnanny:check", "tests.core.test_serialization:Unregistered"],
)
def test_a_format1_file_naming_an_unregistered_class_imports_nothing(tmp_path, path, imports):
    architecture = {"class": path, "args": ["echo pwned"], "kwargs": {}}
    crafted = _write_header(tmp_path / "crafted.npz", architecture)
    with pytest.raises(NotFoundError) as error:
        load(crafted)
    message = str(error.value)
    assert (
        f"format-1 file naming class {path!r}, which is not a registered architecture" in message
    )
    assert "save() it again" in message
    assert imports.requested == []
    assert imports.new_modules() == []


@pytest.mark.parametrize("name", ["os:system", "tabnanny", "not-registered"])
def test_a_file_naming_an_unregistered_architecture_imports_nothing(tmp_path, name, imports):
    crafted = _write_header(tmp_path / "crafted.npz", {"name": name, "kwargs": {}}, version=2)
    with pytest.raises(NotFoundError, match=f"no architecture named {name!r} is registered"):
        load(crafted)
    assert imports.requested == []
    assert imports.new_modules() == []


@pytest.mark.parametrize(
    "name", ["mlp", "digits_cnn", "strided_cnn", "recurrent", "sequence_regressor"]
)
def test_a_format1_file_of_the_previous_release_loads_to_the_same_predictions(name):
    expected = np.load(FORMAT1 / "expected_outputs.npz")
    model = load(FORMAT1 / f"{name}.npz")
    with no_grad():
        prediction = model(Tensor(expected[f"{name}.input"])).data
    # The outputs were recorded on another CPU: OpenBLAS picks its GEMM kernel by CPU
    # (SkylakeX there, Haswell on AMD EPYC), which changes float32 sums in the last bits.
    np.testing.assert_allclose(prediction, expected[f"{name}.output"], rtol=1e-5, atol=1e-7)


def test_format1_files_restore_their_classes_mode_and_torch_style_keys():
    digits = load(FORMAT1 / "digits_cnn.npz")
    assert [type(layer) for layer in digits][:3] == [nn.Conv2d, nn.ReLU, nn.MaxPool2d]
    assert not digits.training
    assert "0.weight" in digits.state_dict()
    regressor = load(FORMAT1 / "sequence_regressor.npz")
    assert type(regressor).__name__ == "SequenceRegressor"
    assert regressor.training
    assert regressor.lstm.hidden_size == 8


def test_a_format1_file_of_a_class_registered_in_process_loads(tmp_path):
    model = TinyForecaster(3, hidden=5, head=nn.Sequential(nn.Linear(5, 2), nn.Tanh()))
    linear = {"class": "azuraforge.core.nn.layers:Linear", "args": [5, 2, True], "kwargs": {}}
    head = {
        "class": "azuraforge.core.nn.layers:Sequential",
        "args": [
            {"module": linear},
            {"module": {"class": "azuraforge.core.nn.layers:Tanh", "args": [], "kwargs": {}}},
        ],
        "kwargs": {},
    }
    architecture = {
        "class": "tests.core.test_serialization:TinyForecaster",
        "args": [3],
        "kwargs": {"hidden": 5, "head": {"module": head}},
    }
    state = {k.replace("head.", "head.layers."): v for k, v in model.state_dict().items()}
    assert "head.layers.0.weight" in state
    path = _write_header(tmp_path / "old.npz", architecture, state=state)
    x = Tensor(rng(8).normal(size=(2, 4, 3)))
    np.testing.assert_array_equal(load(path)(x).data, model(x).data)


def test_a_file_whose_arguments_no_longer_fit_the_class_says_so(tmp_path, monkeypatch):
    path = save(TinyForecaster(3), tmp_path / "model")
    monkeypatch.setitem(registry._ARCHITECTURES, "tiny-forecaster", Unregistered)
    with pytest.raises(SchemaMismatchError, match="no longer fit architecture 'tiny-forecaster'"):
        load(path)


@nn.register_architecture("scaled")
class Scaled(nn.Module):
    def __init__(self, scale):
        self.scale = scale

    def forward(self, x):
        return x * self.scale


def test_save_rejects_constructor_arguments_it_cannot_store(tmp_path):
    with pytest.raises(
        InvalidParameterError, match="Scaled argument scale: it is of type ndarray"
    ):
        save(Scaled(np.ones(2)), tmp_path / "scaled.npz")
    assert os.listdir(tmp_path) == []


@nn.register_architecture("named")
class Named(nn.Module):
    """A module whose parameters have names np.savez would take as keywords."""

    def __init__(self):
        self.file = nn.Parameter(np.ones(2))
        self.allow_pickle = nn.Parameter(np.zeros(1))


def test_any_parameter_name_round_trips(tmp_path):
    restored = load(save(Named(), tmp_path / "named"))
    np.testing.assert_array_equal(restored.file.data, np.ones(2))


def test_saved_file_has_the_usual_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        path = save(nn.Linear(2, 1), tmp_path / "model")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_load_accepts_the_name_given_to_save(tmp_path):
    save(nn.Linear(2, 1), tmp_path / "model")
    assert isinstance(load(tmp_path / "model"), nn.Linear)


def test_load_leaves_the_random_stream_alone(tmp_path):
    path = save(nn.Linear(2, 1), tmp_path / "model")
    manual_seed(0)
    expected = nn.Linear(2, 1).weight.data
    manual_seed(0)
    load(path)
    np.testing.assert_array_equal(nn.Linear(2, 1).weight.data, expected)


def test_each_tensor_keeps_its_saved_dtype(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    model.layers[1].to(np.float64)
    restored = load(save(model, tmp_path / "mixed"))
    assert restored.layers[0].weight.dtype == np.float32
    assert restored.layers[1].weight.dtype == np.float64


def test_a_single_array_file_or_damaged_header_is_not_a_model(tmp_path):
    np.save(tmp_path / "array.npy", np.ones(3))
    with pytest.raises(SchemaMismatchError, match="single array"):
        load(tmp_path / "array.npy")
    for header in ["{not json", "[1, 2]", "[" * 100_000]:
        np.savez(tmp_path / "broken.npz", __azuraforge__=np.array(header))
        with pytest.raises(SchemaMismatchError, match="damaged model header"):
            load(tmp_path / "broken.npz")


@pytest.mark.parametrize(
    ("version", "architecture"),
    [
        (2, {"name": "Sequential", "kwargs": {"layers": [{"module": {"kwargs": {}}}]}}),
        (2, {"name": "Linear", "kwargs": [2, 1]}),
        (1, {"class": "azuraforge.core.nn.layers:Linear", "kwargs": {}}),
    ],
)
def test_a_damaged_module_entry_is_a_schema_mismatch(tmp_path, version, architecture):
    path = _write_header(tmp_path / "damaged.npz", architecture, version=version)
    with pytest.raises(SchemaMismatchError, match="damaged model header: a module entry needs"):
        load(path)


def test_a_header_nesting_modules_too_deeply_is_a_schema_mismatch(tmp_path):
    # Deep enough to exhaust the stack while building, shallow enough for the JSON parser.
    depth = 190
    nested = '{"name": "Sequential", "kwargs": {"layers": [{"module": ' * depth
    architecture = nested + '{"name": "ReLU", "kwargs": {}}' + "}]}}" * depth
    header = (
        f'{{"format": "azuraforge.module", "format_version": 2, "architecture": {architecture}}}'
    )
    np.savez(tmp_path / "deep.npz", __azuraforge__=np.array(header))
    with pytest.raises(SchemaMismatchError, match="nests modules too deeply"):
        load(tmp_path / "deep.npz")


# ---- untrusted files: sizes, dtypes, damaged members, shared random state ------------------
def _write_members(path, members):
    """A zip of raw ``.npy`` members, written byte for byte (``members``: name -> bytes)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return path


def _npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


LINEAR = {"name": "Linear", "kwargs": {"in_features": 2, "out_features": 1, "bias": True}}


def test_a_tiny_file_naming_a_huge_architecture_is_refused_before_building(tmp_path):
    huge = {"name": "Linear", "kwargs": {"in_features": 200_000, "out_features": 200_000}}
    path = _write_header(tmp_path / "huge.npz", huge, version=2)
    assert path.stat().st_size < 2_000
    with pytest.raises(SchemaMismatchError) as error:
        load(path)
    message = str(error.value)
    assert str(path) in message
    assert "40,000,000,000 values" in message
    assert "stores 0 values" in message


def test_an_architecture_much_larger_than_its_weights_is_refused(tmp_path):
    architecture = {
        "name": "Sequential",
        "kwargs": {"layers": [{"module": LINEAR}, {"module": {**LINEAR, "name": "Embedding"}}]},
    }
    architecture["kwargs"]["layers"][1]["module"]["kwargs"] = {
        "num_embeddings": 10_000,
        "embedding_dim": 300,
    }
    state = {"0.weight": np.ones((1, 2), np.float32), "0.bias": np.ones(1, np.float32)}
    path = _write_header(tmp_path / "inflated.npz", architecture, version=2, state=state)
    with pytest.raises(SchemaMismatchError, match="stores 3 values"):
        load(path)


@nn.register_architecture("allocates-raw")
class AllocatesRaw(nn.Module):
    """A module allocating with NumPy directly, out of reach of the initialisers' limit."""

    def __init__(self, size: int):
        self.table = nn.Parameter(np.empty(size, np.float64))


def test_running_out_of_memory_while_building_is_a_schema_mismatch(tmp_path):
    path = _write_header(
        tmp_path / "raw.npz", {"name": "allocates-raw", "kwargs": {"size": 2**55}}, version=2
    )
    with pytest.raises(SchemaMismatchError, match="not enough memory to build"):
        load(path)


def test_a_member_claiming_more_values_than_it_holds_is_refused_unread(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)}
    )
    members = {_HEADER: _npy(np.array(json.dumps({**_FORMAT2, "architecture": LINEAR})))}
    path = _write_members(tmp_path / "liar.npz", {**members, "weight": header.getvalue()})
    with pytest.raises(SchemaMismatchError, match=r"'weight' claims shape \(1000000000000,\)"):
        load(path)


_FORMAT2 = {"format": "azuraforge.module", "format_version": 2}


@pytest.mark.parametrize(
    ("weight", "shown"),
    [
        (np.array([["ab", "cd"]]), "<U2"),
        (np.array([[1, 2]]), "int64"),
        (np.array([[1, 2]], np.complex64), "complex64"),
        (np.array([[True, False]]), "bool"),
    ],
)
def test_a_weight_of_the_wrong_kind_is_refused(tmp_path, weight, shown):
    state = {"weight": weight, "bias": np.zeros(1, np.float32)}
    path = _write_header(tmp_path / "kind.npz", LINEAR, version=2, state=state)
    with pytest.raises(SchemaMismatchError) as error:
        load(path)
    message = str(error.value)
    assert f"{path}: 'weight' holds {shown} values" in message
    assert "float16, float32 or float64" in message


def test_big_endian_and_half_precision_weights_load(tmp_path):
    state = {"weight": np.array([[1, 2]], ">f8"), "bias": np.zeros(1, np.float16)}
    model = load(_write_header(tmp_path / "be.npz", LINEAR, version=2, state=state))
    assert model.weight.dtype == np.float64
    assert model.bias.dtype == np.float16
    np.testing.assert_array_equal(model.weight.data, [[1, 2]])


def test_a_fortran_ordered_weight_loads_with_its_values(tmp_path):
    weight = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    linear = {"name": "Linear", "kwargs": {"in_features": 3, "out_features": 2, "bias": False}}
    model = load(_write_header(tmp_path / "f.npz", linear, version=2, state={"weight": weight}))
    np.testing.assert_array_equal(model.weight.data, weight)


@nn.register_architecture("counts")
class Counts(nn.Module):
    """A module with an integer buffer."""

    def __init__(self):
        self.seen = Tensor(np.zeros(3, np.int64))


def test_an_integer_buffer_takes_integers_only(tmp_path):
    architecture = {"name": "counts", "kwargs": {}}
    state = {"seen": np.arange(3, dtype=np.int32)}
    restored = load(_write_header(tmp_path / "ok.npz", architecture, version=2, state=state))
    np.testing.assert_array_equal(restored.seen.data, [0, 1, 2])
    state = {"seen": np.ones(3, np.float32)}
    path = _write_header(tmp_path / "bad.npz", architecture, version=2, state=state)
    with pytest.raises(SchemaMismatchError, match=r"'seen' holds float32 values; .*integers"):
        load(path)


def test_an_object_array_member_is_refused_without_unpickling_advice(tmp_path):
    members = {
        _HEADER: _npy(np.array(json.dumps({**_FORMAT2, "architecture": LINEAR}))),
        "weight": _npy(np.array([{"a": 1}, None], dtype=object), allow_pickle=True),
    }
    with pytest.raises(SchemaMismatchError) as error:
        load(_write_members(tmp_path / "pickled.npz", members))
    assert "'weight' holds Python objects" in str(error.value)
    assert "allow_pickle" not in str(error.value)


def test_a_member_that_is_not_an_array_is_refused(tmp_path):
    members = {_HEADER: _npy(np.array(json.dumps({**_FORMAT2, "architecture": LINEAR})))}
    path = _write_members(tmp_path / "junk.npz", {**members, "weight": b"not an array"})
    with pytest.raises(SchemaMismatchError, match=r"'weight' is not a readable array"):
        load(path)


@pytest.mark.parametrize("version", ["2", None, True, 0, 1.0])
def test_a_format_version_that_is_not_a_known_integer_is_refused(tmp_path, version):
    path = tmp_path / "version.npz"
    header = {**_FORMAT2, "format_version": version, "architecture": LINEAR}
    np.savez(path, __azuraforge__=np.array(json.dumps(header)))
    with pytest.raises(SchemaMismatchError, match=r"format_version .* an integer from 1 to 2"):
        load(path)


@pytest.mark.parametrize("content", [b"garbage", b"\x93NUMPY garbage", b"PK\x03\x04 garbage"])
def test_an_unreadable_file_gets_our_message_not_numpys(tmp_path, content):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(SchemaMismatchError) as error:
        load(path)
    message = str(error.value)
    assert str(path) in message
    assert "allow_pickle" not in message
    assert "azuraforge.core.save" in message


@nn.register_architecture("pauses-while-built")
class PausesWhileBuilt(nn.Module):
    """Signals when load() is building it, then waits until the test has drawn a number."""

    building = threading.Event()
    drawn = threading.Event()

    def __init__(self):
        PausesWhileBuilt.building.set()
        PausesWhileBuilt.drawn.wait(timeout=10)
        self.weight = nn.Parameter(init.uniform((2,), 1.0))


def test_load_in_another_thread_does_not_rewind_this_threads_draws(tmp_path):
    path = _write_header(
        tmp_path / "pauses.npz",
        {"name": "pauses-while-built", "kwargs": {}},
        version=2,
        state={"weight": np.zeros(2, np.float32)},
    )
    manual_seed(0)
    expected = [generator().random(), generator().random()]
    manual_seed(0)
    loader = threading.Thread(target=load, args=(path,))
    loader.start()
    assert PausesWhileBuilt.building.wait(timeout=10)
    drawn = [generator().random()]  # while the other thread builds the module
    PausesWhileBuilt.drawn.set()
    loader.join(timeout=10)
    drawn.append(generator().random())
    assert drawn == expected
