"""The echo backend keeps the Backend contract: stream joins to generate, adapters by name."""

import threading

import pytest

from azuraforge.assist.backends import EchoBackend, GenerationSettings, Message
from azuraforge.errors import InvalidParameterError, NotFoundError

CHAT = [Message("system", "be brief"), Message("user", "bir iki üç dört")]


def test_stream_joins_to_generate_and_honours_max_tokens():
    backend = EchoBackend()
    assert "".join(backend.stream(CHAT)) == backend.generate(CHAT) == "echo: bir iki üç dört"
    assert backend.generate(CHAT, GenerationSettings(max_tokens=2)) == "echo: bir"
    assert backend.count_tokens("echo: bir") == 2


def test_adapters_load_swap_and_unload_by_name(tmp_path):
    backend = EchoBackend()
    adapter = tmp_path / "turkish.gguf"
    adapter.write_bytes(b"x")
    backend.load_adapter("turkish", adapter)
    assert backend.generate(CHAT, adapter="turkish").startswith("[turkish] echo:")
    assert backend.adapters() == ["turkish"]
    backend.unload_adapter("turkish")
    with pytest.raises(NotFoundError, match="no adapter 'turkish'; loaded: none"):
        backend.generate(CHAT, adapter="turkish")
    with pytest.raises(NotFoundError, match="not found"):
        backend.load_adapter("python", tmp_path / "missing.gguf")


def test_an_unknown_adapter_fails_before_anything_streams():
    with pytest.raises(NotFoundError):
        EchoBackend().stream(CHAT, adapter="nope")


def test_streams_in_threads_keep_their_adapter_while_adapters_change(tmp_path):
    backend = EchoBackend()
    (tmp_path / "a").write_bytes(b"a")
    backend.load_adapter("a", tmp_path / "a")
    answers = []

    def chat():
        for _ in range(200):
            answers.append(backend.generate(CHAT, adapter="a"))

    thread = threading.Thread(target=chat)
    thread.start()
    for i in range(200):
        backend.load_adapter(f"other{i}", tmp_path / "a")
        backend.unload_adapter(f"other{i}")
    thread.join()
    assert set(answers) == {"[a] echo: bir iki üç dört"}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Message("robot", "x"), "role must be one of"),
        (lambda: GenerationSettings(max_tokens=0), "max_tokens must be >= 1"),
        (lambda: GenerationSettings(temperature=3), "temperature must be in"),
    ],
)
def test_bad_settings_and_roles_are_refused(make, message):
    with pytest.raises(InvalidParameterError, match=message):
        make()
