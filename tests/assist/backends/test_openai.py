"""The OpenAI-compatible backend against a real server: llama.cpp's own (llama_cpp.server)
serving the packaged SmolLM2-135M-Instruct on a local port."""

import socket
import subprocess
import sys
import time

import httpx
import pytest

from azuraforge.assist.backends import GenerationSettings, Message
from azuraforge.assist.backends.openai import OpenAICompatibleBackend
from azuraforge.assist.models import DEFAULT_MODEL, resolve
from azuraforge.errors import InvalidParameterError, ModelUnavailableError, NotFoundError

GREEDY = GenerationSettings(max_tokens=24, temperature=0.0, seed=1)
CHAT = [Message("user", "Write a Python function that adds two numbers.")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(resolve(DEFAULT_MODEL)),
                "--model_alias",
                "smollm2",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "512",
                "--n_threads",
                "1",
                "--verbose",
                "false",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,  # a pipe nobody reads would fill and stop the server
        )
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            process.kill()
            pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-500:]}")
        yield url
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_streamed_pieces_from_the_server_join_to_the_generated_answer(server):
    backend = OpenAICompatibleBackend(server, "smollm2")
    pieces = list(backend.stream(CHAT, GREEDY))
    assert len(pieces) > 3 and "".join(pieces) == backend.generate(CHAT, GREEDY)
    assert "def" in "".join(pieces)
    assert backend.count_tokens("Merhaba dünya") == 6  # the server's own tokenizer
    backend.close()


@pytest.mark.slow
def test_adapters_are_served_model_names_and_unknown_ones_are_refused(server):
    backend = OpenAICompatibleBackend(server, "smollm2", adapters={"python": "smollm2"})
    assert backend.capabilities.adapters and backend.adapters() == ["python"]
    assert "def" in backend.generate(CHAT, GREEDY, adapter="python")
    with pytest.raises(NotFoundError, match="no adapter 'turkish'; loaded: python"):
        backend.stream(CHAT, adapter="turkish")


def test_a_server_that_is_not_there_is_a_clear_error():
    backend = OpenAICompatibleBackend(f"http://127.0.0.1:{free_port()}/v1", "m", timeout=2)
    with pytest.raises(ModelUnavailableError, match="cannot reach the model server at http"):
        backend.generate(CHAT)
    assert backend.count_tokens("four byte") == 2  # the estimate without a server


@pytest.mark.slow
def test_a_server_error_is_reported_with_its_status(server):
    backend = OpenAICompatibleBackend(server.removesuffix("/v1"), "smollm2")
    with pytest.raises(ModelUnavailableError, match="answered 404"):
        backend.generate(CHAT)


def test_the_url_must_be_http():
    with pytest.raises(InvalidParameterError, match="base_url must be http"):
        OpenAICompatibleBackend("ftp://x", "m")
