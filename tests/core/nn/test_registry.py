"""The architecture registry: names in process, plugins through entry points, clashes."""

from importlib.metadata import EntryPoint

import pytest

from azuraforge.core import nn
from azuraforge.core.nn import registry
from azuraforge.errors import InvalidParameterError, NotFoundError, PluginError


class PluginNet(nn.Module):
    def __init__(self, width: int = 2):
        self.layer = nn.Linear(width, 1)


class OtherNet(nn.Module):
    pass


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch):
    """Each test registers into a copy, so names never leak between tests."""
    monkeypatch.setattr(registry, "_ARCHITECTURES", dict(registry._ARCHITECTURES))


def _declare(monkeypatch, *entries):
    points = [EntryPoint(name, value, registry.GROUP) for name, value in entries]
    monkeypatch.setattr(registry, "entry_points", lambda group: points)


def test_built_ins_register_under_pytorchs_class_names():
    for name, cls in [("Conv2d", nn.Conv2d), ("MaxPool2d", nn.MaxPool2d), ("LSTM", nn.LSTM)]:
        assert nn.get_architecture(name) is cls
        assert nn.find_architecture_name(cls) == name
    assert nn.find_architecture_name(nn.Conv2D) == "Conv2d"


def test_a_registered_class_is_found_by_name_and_listed():
    assert nn.register_architecture("plugin-net")(PluginNet) is PluginNet
    assert nn.get_architecture("plugin-net") is PluginNet
    assert nn.find_architecture_name(PluginNet) == "plugin-net"
    assert "plugin-net" in nn.list_architectures()
    nn.register_architecture("plugin-net")(PluginNet)  # the same registration again is fine


def test_a_taken_name_for_another_class_is_an_error_naming_both():
    nn.register_architecture("net")(PluginNet)
    with pytest.raises(
        PluginError, match=r"'net' is taken by .*test_registry:PluginNet.*OtherNet"
    ):
        nn.register_architecture("net")(OtherNet)
    with pytest.raises(
        PluginError, match=r"'Linear' is taken by azuraforge\.core\.nn\.layers:Linear"
    ):
        nn.register_architecture("Linear")(OtherNet)


def test_a_class_has_one_name():
    nn.register_architecture("net")(PluginNet)
    with pytest.raises(PluginError, match="PluginNet is already registered as 'net'"):
        nn.register_architecture("net-2")(PluginNet)


def test_only_module_classes_and_real_names_register():
    with pytest.raises(PluginError, match=r"'not-a-module' .* is not an nn\.Module subclass"):
        nn.register_architecture("not-a-module")(dict)
    with pytest.raises(InvalidParameterError, match="non-empty string, got ''"):
        nn.register_architecture("")


def test_an_unknown_name_says_how_to_register_it(monkeypatch):
    _declare(monkeypatch)
    with pytest.raises(NotFoundError) as error:
        nn.get_architecture("my-net")
    message = str(error.value)
    assert "no architecture named 'my-net' is registered" in message
    assert "@register_architecture('my-net')" in message
    assert '[project.entry-points."azuraforge.architectures"]' in message


def test_an_entry_point_is_loaded_only_for_its_own_unregistered_name(monkeypatch):
    _declare(
        monkeypatch,
        ("Linear", "no_such_package_anywhere:Linear"),
        ("plugin-net", "tests.core.nn.test_registry:PluginNet"),
    )
    assert nn.get_architecture("Linear") is nn.Linear  # in process wins; nothing imported
    assert nn.get_architecture("plugin-net") is PluginNet
    assert nn.find_architecture_name(PluginNet) == "plugin-net"


def test_an_entry_point_that_fails_or_is_no_module_class_is_a_plugin_error(monkeypatch):
    _declare(
        monkeypatch,
        ("broken", "no_such_package_anywhere:Net"),
        ("function", "os:getcwd"),
    )
    with pytest.raises(PluginError, match=r"'broken' \(no_such_package_anywhere:Net .*import"):
        nn.get_architecture("broken")
    with pytest.raises(PluginError, match="'function' from entry point os:getcwd is not an"):
        nn.get_architecture("function")


def test_two_packages_declaring_one_name_is_an_error_naming_both(monkeypatch):
    _declare(
        monkeypatch,
        ("net", "tests.core.nn.test_registry:PluginNet"),
        ("net", "tests.core.nn.test_registry:OtherNet"),
    )
    with pytest.raises(PluginError, match=r"two packages declare architecture 'net': .*PluginNet"):
        nn.get_architecture("net")


def test_a_class_declared_by_entry_point_is_found_by_its_import_path(monkeypatch):
    _declare(monkeypatch, ("plugin-net", "tests.core.nn.test_registry:PluginNet"))
    path = "tests.core.nn.test_registry:PluginNet"
    assert registry.find_architecture_by_path(path) is PluginNet
    assert registry.find_architecture_by_path("azuraforge.core.nn.layers:Linear") is nn.Linear
    assert registry.find_architecture_by_path("tests.core.nn.test_registry:OtherNet") is None


def test_our_own_forecasting_model_is_declared_as_a_plugin_would_be():
    from azuraforge.apps.forecasting import SequenceRegressor

    assert "sequence-regressor" in nn.list_architectures()
    assert nn.get_architecture("sequence-regressor") is SequenceRegressor
    assert nn.find_architecture_name(SequenceRegressor) == "sequence-regressor"


def test_the_registry_functions_are_exported_from_nn_and_every_nn_name_imports():
    namespace = {}
    exec("from azuraforge.core.nn import *", namespace)
    assert set(nn.__all__) <= set(namespace)
    for name in ["register_architecture", "get_architecture", "list_architectures"]:
        assert namespace[name] is getattr(registry, name)
    assert set(registry.__all__) <= set(vars(registry))
