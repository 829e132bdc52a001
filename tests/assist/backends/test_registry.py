"""The backends' entry-point group: the built-ins found and built from a spec, a missing extra
named as before, an unknown kind named with the kinds there are, and a plugin file's backend
found beside them (a declared class that is not a backend refused with a warning)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from azuraforge.assist.backends import BackendSpec, EchoBackend, Message
from azuraforge.assist.backends.openai import OpenAICompatibleBackend
from azuraforge.assist.backends.registry import (
    backend_class,
    backend_kinds,
    build,
    check_kinds,
    discover,
)
from azuraforge.errors import (
    InvalidParameterError,
    ModelUnavailableError,
    NotFoundError,
    PluginError,
)
from azuraforge.learn.plugin_folder import load_folder
from tests.assist.backends.shout_plugin import shout_folder

BUILT_IN = ["echo", "llama", "openai", "transformers"]
HELLO = [Message("system", "be loud"), Message("user", "merhaba dünya")]


@pytest.fixture(autouse=True)
def no_folder_after() -> Iterator[None]:
    yield
    load_folder(None)


def test_the_built_ins_are_declared_as_a_plugin_declares_and_built_from_a_spec():
    found = discover()
    assert [name for name in BUILT_IN if found[name].loaded is not None] == BUILT_IN
    assert found["llama"].target == "azuraforge.assist.backends.llama:LlamaCppBackend"
    assert found["llama"].distribution.startswith("azuraforge ")
    assert isinstance(build(BackendSpec("echo", "quick")), EchoBackend)
    served = build(BackendSpec("openai", model="llama3.2", url="http://127.0.0.1:9/v1"))
    assert isinstance(served, OpenAICompatibleBackend)
    assert (served.base_url, served.model) == ("http://127.0.0.1:9/v1", "llama3.2")


def test_a_missing_extra_is_named_as_before(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # its import fails, as uninstalled
    with pytest.raises(ModelUnavailableError, match=r"needs llama-cpp-python: pip install"):
        build(BackendSpec("llama"))


def test_a_server_without_its_url_is_refused_naming_the_declaration():
    with pytest.raises(InvalidParameterError, match=r"backend 'remote' is an OpenAI-compatible "
                       r"server: give its url"):  # fmt: skip
        build(BackendSpec("openai", "remote"))


def test_an_unknown_kind_is_named_with_the_kinds_there_are():
    check_kinds([("local", "llama"), ("quick", "echo")])
    with pytest.raises(InvalidParameterError) as refused:
        check_kinds([("local", "llama"), ("loud", "shuot")])
    assert str(refused.value).startswith(
        "assist backend 'loud' is of kind 'shuot', which no installed package or plugin file "
        "declares; the kinds there are: echo, llama, openai, transformers"
    )
    with pytest.raises(NotFoundError, match=r"no backend kind named 'shuot'; installed: echo, "):
        backend_class("shuot")


def test_a_plugin_files_backend_is_found_and_a_class_that_is_not_one_refused_with_a_warning(
    tmp_path: Path,
):
    assert "shout" not in backend_kinds()
    load_folder(shout_folder(tmp_path / "plugins", odd=True))
    assert backend_kinds() == ["echo", "llama", "odd", "openai", "shout", "transformers"]
    check_kinds([("loud", "shout")])
    loud = build(BackendSpec("shout", "loud"))
    assert "".join(loud.stream(HELLO)) == loud.generate(HELLO) == "MERHABA DÜNYA!"
    with pytest.warns(UserWarning, match=r"backend kind 'odd' is refused: azuraforge_plugins\."
                      r"shouting:NotABackend is not a Backend subclass"):  # fmt: skip
        found = discover()
    assert found["shout"].distribution == "plugin folder: shouting.py"
    assert found["odd"].loaded is None and "is not a Backend subclass" in found["odd"].error
    with (
        pytest.warns(UserWarning, match="backend kind 'odd' is refused"),
        pytest.raises(PluginError, match=r"backend kind 'odd' cannot be used: .*NotABackend is "
                      r"not a Backend subclass; fix or reinstall plugin folder: shouting\.py"),
    ):  # fmt: skip
        backend_class("odd")
