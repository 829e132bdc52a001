"""The assistant on the platform, through a real server (uvicorn in a thread, one for this
module, SQLite): ``/api/v1/chat`` streams an answer as server-sent events and keeps its turn
in the caller's own conversation; a verdict is counted by the backend selector; a backend
that cannot answer is counted and another answers; OpenAI's own client talks to
``/v1/chat/completions`` with a token; bad input is a 4xx naming what was wrong. Backends:
two echo backends (deterministic) and an OpenAI-compatible one whose server is down."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from azuraforge import track
from azuraforge.cli.main import app
from azuraforge.client import Client
from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.learn.plugin_folder import load_folder
from azuraforge.platform.api.app import create_app
from azuraforge.platform.settings import AssistBackend
from azuraforge.platform.store import Store
from tests.assist.backends.shout_plugin import shout_folder
from tests.platform.fixtures import admin_headers, served_chat, user_headers
from tests.platform.servers import free_port
from tests.track.conftest import FAST

API = "/api/v1"
BACKENDS = [
    AssistBackend(name="quick", kind="echo"),
    AssistBackend(name="costly", kind="echo", cost_per_token=0.01),
    AssistBackend(name="down", kind="openai", url=f"http://127.0.0.1:{free_port()}/v1"),
]


class Server:
    def __init__(self, url: str, store: Store) -> None:
        self.url, self.store = url, store
        self.ada = user_headers(store, "ada", "viewer")  # any role may chat
        self.bob = user_headers(store, "bob", "editor")

    def chat(self, headers: dict[str, str], **body: Any) -> tuple[int, list[tuple[str, Any]]]:
        """The status and the events of ``POST /chat``."""
        with httpx.stream("POST", f"{self.url}{API}/chat", json=body, headers=headers,
                          timeout=30) as answer:  # fmt: skip
            text = "".join(answer.iter_text())
        if answer.status_code != 200:
            return answer.status_code, [("error", json.loads(text))]
        events = []
        for block in text.strip().split("\n\n"):
            kind, data = block.split("\n")
            events.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
        return 200, events


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("chat-api")
    with served_chat(sqlite_template, home, BACKENDS) as (url, store):
        yield Server(url, store)


def counted(name: str, **labels: str) -> float:
    """A metric of this process (the server runs in a thread of it), 0 before its first count."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_answer_streams_its_turn_is_kept_and_its_verdict_counted(server: Server):
    written = counted("azuraforge_chat_tokens_total", direction="completion")
    status, events = server.chat(server.ada, message="write a python function that adds",
                                 model="quick")  # fmt: skip
    assert status == 200, events
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and set(kinds[1:-1]) == {"piece"}
    start, end = events[0][1], events[-1][1]["turn"]
    assert (start["intent"], start["expert"], start["backend"]) == ("code_python", "python",
                                                                     "quick")  # fmt: skip
    said = "".join(data["text"] for kind, data in events if kind == "piece")
    assert said == end["answer"] == "echo: write a python function that adds"
    assert end["first_token_ms"] >= 0 and end["tokens_out"] == 7 and end["reason"]
    assert counted("azuraforge_chat_tokens_total", direction="completion") - written == 7
    conversation = start["conversation_id"]
    status, again = server.chat(server.ada, message="and subtracts?", model="quick",
                                conversation_id=conversation)  # fmt: skip
    assert again[0][1]["conversation_id"] == conversation
    read = httpx.get(f"{server.url}{API}/chat/conversations/{conversation}", headers=server.ada)
    assert [t["message"] for t in read.json()["turns"]] == [
        "write a python function that adds", "and subtracts?"
    ]  # fmt: skip
    judged = httpx.post(f"{server.url}{API}/chat/turns/{end['id']}/feedback",
                        json={"verdict": "correction", "correction": "def add(a, b): ..."},
                        headers=server.ada)  # fmt: skip
    assert judged.json()["verdict"] == "correction"
    rows = httpx.get(f"{server.url}{API}/chat/performance", headers=server.ada).json()
    quick = next(r for r in rows if (r["task"], r["candidate"]) == ("code_python", "quick"))
    assert (quick["failures"], quick["successes"]) == (1.0, 0.0)  # the corrected answer


def test_the_answer_says_how_sure_the_router_was(server: Server):
    status, events = server.chat(server.ada, message="Who wrote Hamlet?", model="quick")
    assert status == 200, events
    start, end = events[0][1], events[-1][1]["turn"]
    assert start["intent"] == "general_chat" and 0.0 < start["confidence"] <= 1.0
    assert end["confidence"] == start["confidence"]


def test_a_conversation_is_its_users_alone(server: Server):
    _, events = server.chat(server.ada, message="merhaba", model="quick")
    conversation, turn = events[0][1]["conversation_id"], events[-1][1]["turn"]["id"]
    read = httpx.get(f"{server.url}{API}/chat/conversations/{conversation}", headers=server.bob)
    assert read.status_code == 404
    judged = httpx.post(f"{server.url}{API}/chat/turns/{turn}/feedback",
                        json={"verdict": "bad"}, headers=server.bob)  # fmt: skip
    assert judged.status_code == 404
    status, _ = server.chat(server.bob, message="go on", conversation_id=conversation)
    assert status == 404
    listed = httpx.get(f"{server.url}{API}/chat/conversations", headers=server.bob).json()
    assert conversation not in [c["id"] for c in listed["data"]]


def test_messages_are_remembered_as_their_users_own_and_recalled_when_asked(server: Server):
    cem, dee = (user_headers(server.store, name, "viewer") for name in ("cem", "dee"))
    memories = f"{server.url}{API}/chat/memories"
    _, told = server.chat(cem, message="my sister is called Elif and she lives in Izmir",
                          model="quick")  # fmt: skip
    server.chat(cem, message="I have a red bicycle", model="quick")
    server.chat(dee, message="my sister is called Zeynep", model="quick")
    mine = httpx.get(memories, headers=cem).json()["data"]
    assert [m["text"] for m in mine] == [
        "I have a red bicycle", "my sister is called Elif and she lives in Izmir",
    ]  # fmt: skip
    assert mine[1]["conversation_id"] == told[0][1]["conversation_id"]
    # A new conversation: the router sends the question to the memory, which the echo
    # backend repeats with the message; the question itself is not kept.
    _, events = server.chat(cem, message="what did I tell you about my sister earlier?",
                            model="quick")  # fmt: skip
    start, answer = events[0][1], "".join(data["text"] for kind, data in events if kind == "piece")
    assert start["intent"] == "memory_recall" and start["recalled"] == 1, start
    assert events[-1][1]["turn"]["recalled"] == 1
    assert "Elif" in answer and "Zeynep" not in answer and "bicycle" not in answer
    assert events[-1][1]["turn"]["message"] == "what did I tell you about my sister earlier?"
    _, small_talk = server.chat(cem, message="merhaba, nasılsın?", model="quick")
    assert small_talk[0][1]["recalled"] == 0
    theirs = httpx.get(memories, headers=dee).json()["data"][0]["id"]
    assert httpx.delete(f"{memories}/{theirs}", headers=cem).status_code == 404
    cli = ["assist", "memories", "--api-url", server.url]
    env = {"AZURAFORGE_TOKEN": cem["Authorization"].split()[1], "COLUMNS": "200"}
    shown = CliRunner().invoke(app, [*cli, "sister"], env=env)
    assert shown.exit_code == 0 and "Elif" in shown.output and "Zeynep" not in shown.output
    both = CliRunner().invoke(app, [*cli, "--forget", "1", "--forget-all"], env=env)
    assert both.exit_code == 2 and "not both" in both.output
    missing = CliRunner().invoke(app, [*cli, "--forget", str(theirs)], env=env)
    assert missing.exit_code == 1 and f"no memory {theirs} of yours" in missing.output
    with Client(server.url, token=cem["Authorization"].split()[1]) as client:
        found = client.chat.memories("who is my sister", limit=1)
        assert [(m["text"], m["similarity"] > 0.5) for m in found] == [
            ("my sister is called Elif and she lives in Izmir", True),
        ]  # fmt: skip
        assert client.chat.forget(mine[0]["id"]) == 1
        with pytest.raises(NotFoundError, match=f"no memory {mine[0]['id']} of yours"):
            client.chat.forget(mine[0]["id"])
        assert client.chat.forget() == 2  # Elif, merhaba
        assert client.chat.memories() == []
    assert len(httpx.get(memories, headers=dee).json()["data"]) == 1


@pytest.mark.parametrize(
    ("params", "fragment"),
    [({"limit": 0}, "limit"), ({"q": ""}, "q"), ({"q": "x" * 20_001}, "q")],
)
def test_a_bad_memory_search_is_a_422_naming_the_parameter(server: Server, params, fragment):
    found = httpx.get(f"{server.url}{API}/chat/memories", params=params, headers=server.ada)
    assert found.status_code == 422 and fragment in found.text


def test_with_the_memory_off_its_routes_say_so_and_the_chat_answers(settings, store):
    off = settings.model_copy(update={"assist_memory": False, "assist_backends": BACKENDS[:1]})
    with TestClient(create_app(off, store=store), headers=user_headers(store, "cy")) as api:
        listed = api.get(f"{API}/chat/memories")
        asked = api.post(f"{API}/chat", json={"message": "what did I say before?"})
    assert listed.status_code == 503 and "settings assist_memory" in listed.text
    assert asked.status_code == 200
    assert '"intent": "memory_recall"' in asked.text and '"recalled": 0' in asked.text


def test_a_plugin_files_backend_answers_and_an_unknown_kind_is_refused_at_start_and_live(
    settings, store, tmp_path
):
    folder = shout_folder(tmp_path / "plugins")
    loud = settings.model_copy(update={
        "plugins_dir": folder, "assist_memory": False,
        "assist_backends": [AssistBackend(name="loud", kind="shout")],
    })  # fmt: skip
    admin = admin_headers(store)
    try:
        typo_at_start = [AssistBackend(name="l", kind="shuot")]
        with pytest.raises(InvalidParameterError, match=r"assist backend 'l' is of kind 'shuot'"):
            create_app(loud.model_copy(update={"assist_backends": typo_at_start}), store=store)
        with TestClient(create_app(loud, store=store), headers=user_headers(store, "cy")) as api:
            assert api.get(f"{API}/chat/models").json()["backends"] == ["loud"]
            assert _answer(api, "loud") == ("loud", "MERHABA DÜNYA!")
            typo = [{"name": "loud", "kind": "shuot"}]
            refused = api.patch(f"{API}/server/settings", json={"assist_backends": typo},
                                headers=admin)  # fmt: skip
            assert refused.status_code == 422, refused.text
            assert (
                "kind 'shuot', which no installed package or plugin file declares; the "
                "kinds there are: echo, llama, openai, shout, transformers" in refused.text
            )
            louder = [{"name": "louder", "kind": "shout"}]
            changed = api.patch(f"{API}/server/settings", json={"assist_backends": louder},
                                headers=admin)  # fmt: skip
            assert changed.status_code == 200, changed.text
            assert _answer(api, "louder") == ("louder", "MERHABA DÜNYA!")
    finally:
        load_folder(None)


def _answer(api: TestClient, model: str) -> tuple[str, str]:
    """The backend that answered "merhaba dünya" asked of ``model``, and its answer."""
    asked = api.post(f"{API}/chat", json={"message": "merhaba dünya", "model": model})
    assert asked.status_code == 200, asked.text
    events = [json.loads(line.removeprefix("data: ")) for line in asked.text.splitlines()
              if line.startswith("data: ")]  # fmt: skip
    return events[0]["backend"], events[-1]["turn"]["answer"]


def test_the_guardian_runs_a_code_answers_code_behind_the_boundary_and_counts_it(
    server: Server,
):
    def checked(message: str) -> dict[str, Any]:
        _, events = server.chat(server.ada, message=message, model="quick")
        turn, conversation = events[-1][1]["turn"], events[0][1]["conversation_id"]
        assert turn["check_status"] is None  # the answer did not wait for the check
        read = f"{server.url}{API}/chat/conversations/{conversation}"
        for _ in range(200):
            kept = httpx.get(read, headers=server.ada).json()["turns"][-1]
            if kept["check_status"] is not None:
                return dict(kept)
            time.sleep(0.05)
        raise AssertionError(f"no check on {turn}")

    before = _judged(server, "code_python")
    clean = checked("write python code:\n```python\nsquares = [i * i for i in range(3)]\n```")
    assert (clean["intent"], clean["check_status"], clean["check_message"]) == (
        "code_python", "passed", "ran clean",
    )  # fmt: skip
    assert _judged(server, "code_python") == before + 1  # counted as a verdict
    escaping = checked("why does this python fail?\n```python\nimport socket\n"
                       "socket.create_connection(('127.0.0.1', 5432))\n```")  # fmt: skip
    assert escaping["intent"] == "code_debug" and escaping["check_status"] == "error"
    assert "ConnectionRefusedError" in escaping["check_message"]  # the store stays unreached


def _judged(server: Server, task: str) -> int:
    rows = httpx.get(f"{server.url}{API}/chat/performance", headers=server.ada).json()
    return round(sum(r["successes"] + r["failures"] for r in rows if r["task"] == task
                     and r["candidate"] == "quick"))  # fmt: skip


def test_a_backend_that_cannot_answer_is_counted_and_another_answers(server: Server):
    answered = set()
    for _ in range(4):  # each backend answers twice first: "down" is tried
        status, events = server.chat(server.ada, message="tell me a story")
        assert status == 200, events
        answered.add(events[0][1]["backend"])
    assert "down" not in answered
    rows = httpx.get(f"{server.url}{API}/chat/performance", headers=server.ada).json()
    intent = events[0][1]["intent"]
    down = next(r for r in rows if (r["task"], r["candidate"]) == (intent, "down"))
    assert down["errors"] >= 1 and down["failures"] > 0 and not down["preferred"]
    status, events = server.chat(server.ada, message="only you", model="down")
    assert status == 503 and "could not answer" in events[0][1]["error"]["message"]
    assert "127.0.0.1" not in events[0][1]["error"]["message"]


def test_openais_client_streams_and_answers_whole_with_a_token(server: Server):
    token = server.ada["Authorization"].removeprefix("Bearer ")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=token)
    whole = client.chat.completions.create(
        model="quick", messages=[{"role": "user", "content": "merhaba dünya"}]
    )
    assert whole.choices[0].message.content == "echo: merhaba dünya"
    assert (
        whole.model == "quick" and whole.usage is not None and whole.usage.completion_tokens == 3
    )
    stream = client.chat.completions.create(
        model="python", messages=[{"role": "user", "content": "def f(): pass"}], stream=True,
        stream_options={"include_usage": True}, max_tokens=2,
    )  # fmt: skip
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: def"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2
    assert {"auto", "quick", "costly", "down", "python"} <= {m.id for m in client.models.list()}
    with pytest.raises(openai.NotFoundError, match="no model 'gpt-9'"):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    refused = openai.OpenAI(base_url=f"{server.url}/v1", api_key="af_not_a_token")
    with pytest.raises(openai.AuthenticationError):
        refused.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"message": ""}, 422, "message"),
        ({"message": " \n\t  "}, 422, "message"),
        ({"message": "x" * 20_001}, 422, "message"),
        ({"message": "hi", "temperature": 3}, 422, "temperature"),
        ({"message": "hi", "conversation_id": 999_999}, 404, "conversation 999999"),
        ({"message": "hi", "model": "gpt-9"}, 404, "no model 'gpt-9'"),
    ],
)
def test_bad_chat_requests_are_4xx_naming_what_was_wrong(server, body, status, fragment):
    code, events = server.chat(server.ada, **body)
    assert code == status and fragment in json.dumps(events[0][1]), events


def test_without_a_declared_backend_the_packaged_model_answers_loaded_at_the_first_message(
    settings, store
):
    app = create_app(settings, store=store)
    with TestClient(app, headers=user_headers(store, "cy")) as api:
        assert api.get(f"{API}/chat/models").json()["backends"] == ["local"]
        assert app.state.chat._backends == {}  # nothing loaded at the start
        answer = api.post(f"{API}/chat", json={"message": "hi", "max_tokens": 8})
        events = [json.loads(line.removeprefix("data: ")) for line in answer.text.splitlines()
                  if line.startswith("data: ")]  # fmt: skip
    assert answer.status_code == 200, answer.text
    turn = events[-1]["turn"]
    assert (events[0]["backend"], turn["backend"]) == ("local", "local")
    assert turn["answer"].strip() and turn["tokens_out"] >= 1
    assert type(app.state.chat._backends["local"]).__name__ == "LlamaCppBackend"


def test_without_the_assist_extra_the_chat_says_what_to_install(settings, store, monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # its import fails, as uninstalled
    with TestClient(create_app(settings, store=store), headers=user_headers(store, "cy")) as api:
        answer = api.post(f"{API}/chat", json={"message": "hi"})
        assert api.get(f"{API}/chat/conversations").json()["total"] == 0  # none left empty
    assert answer.status_code == 503
    message = answer.json()["error"]["message"]
    assert "is not installed: pip install 'azuraforge[assist]'" in message
    assert "assist_backends" in message and "\n" not in message


def test_the_client_asks_and_the_cli_shows_what_the_selector_measured(server: Server):
    token = server.ada["Authorization"].removeprefix("Bearer ")
    with Client(server.url, token=token) as client:
        events = list(client.chat.ask("nasılsın?", model="costly"))
        turn = events[-1][1]["turn"]
        assert events[0][0] == "start" and turn["answer"] == "echo: nasılsın?"
        assert client.chat.feedback(turn["id"], "good")["verdict"] == "good"
        kept = client.chat.conversation(turn["conversation_id"])
        assert [t["verdict"] for t in kept["turns"]] == ["good"]
    shown = CliRunner().invoke(
        app, ["assist", "router", "--api-url", server.url], env={"AZURAFORGE_TOKEN": token,
                                                               "COLUMNS": "200"},
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.output.splitlines() if "costly" in line and "67%" in line)
    assert "67% of 1.0" in row  # its one verdict, good: (1 + 1) / (2 + 1)


def test_a_deterministic_answer_is_cached_per_exact_request_and_model(server: Server):
    def ask(message: str, model: str = "quick", temperature: float = 0.0) -> dict[str, Any]:
        status, events = server.chat(server.ada, message=message, model=model,
                                     temperature=temperature)  # fmt: skip
        assert status == 200, events
        return {"start": events[0][1], "turn": events[-1][1]["turn"]}

    before = httpx.get(f"{server.url}{API}/chat/cache", headers=server.ada).json()
    hits, misses = (
        counted("azuraforge_chat_cache_lookups_total", result=r) for r in ("hit", "miss")
    )
    first = ask("Is 7 a prime number?")
    again = ask("Is 7 a prime number?")
    assert (first["start"]["cached"], again["start"]["cached"]) == (False, True)
    assert again["turn"]["answer"] == first["turn"]["answer"] and again["turn"]["cached"]
    assert not ask("Is 7 not a prime number?")["start"]["cached"]  # a negation: another key
    assert not ask("Is 7 a prime number?", model="costly")["start"]["cached"]  # another model
    assert not ask("Is 7 a prime number?", temperature=0.5)["start"]["cached"]  # not kept
    after = httpx.get(f"{server.url}{API}/chat/cache", headers=server.ada).json()
    assert after["enabled"] and after["hits"] - before["hits"] == 1
    assert after["misses"] - before["misses"] == 3 and after["saved_ms"] >= before["saved_ms"]
    assert counted("azuraforge_chat_cache_lookups_total", result="hit") - hits == 1
    assert counted("azuraforge_chat_cache_lookups_total", result="miss") - misses == 3


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"verdict": "correction"}, "correction"),
        ({"verdict": "correction", "correction": "   "}, "correction"),
        ({"verdict": "great"}, "verdict"),
    ],
)
def test_a_bad_verdict_is_a_422_naming_the_field(server: Server, body, fragment):
    _, events = server.chat(server.ada, message="hello", model="quick")
    turn = events[-1][1]["turn"]["id"]
    answer = httpx.post(f"{server.url}{API}/chat/turns/{turn}/feedback", json=body,
                        headers=server.ada)  # fmt: skip
    assert answer.status_code == 422 and fragment in answer.text, answer.text


def test_chats_at_once_are_each_answered_and_each_measured(server: Server):
    before = _answers(server, "quick")
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda i: server.chat(server.bob, message=f"merhaba {i}",
                                                    model="quick"), range(16)))  # fmt: skip
    assert all(status == 200 and events[-1][0] == "end" for status, events in found)
    assert _answers(server, "quick") - before == 16


def _registered_adapter(
    server: Server, api: httpx.Client, expert: str, attempt: int, folder: Path
) -> dict[str, Any]:
    """A version of model ``expert-<expert>`` (made at the first attempt): an adapter file
    kept by a tracked run as its model, registered."""
    if attempt == 1:
        assert api.post("/models", json={"name": f"expert-{expert}"}).status_code == 201
    gguf = folder / f"{expert}-{attempt}.gguf"
    gguf.write_bytes(b"GGUF" + bytes([attempt]) * 64)  # the echo backend reads no weights
    token = api.headers["Authorization"].removeprefix("Bearer ")
    with track.start_run(name=f"{expert}-adapter-{attempt}", experiment="train-expert",
                         url=server.url, token=token, **FAST) as run:  # fmt: skip
        run.log_adapter(
            str(gguf), expert=expert, base_model="smollm2-135m-instruct",
            metrics={"pass@1": 0.4 + attempt / 10}, config={"examples": 60},
        )  # fmt: skip
    made = api.post(f"/models/expert-{expert}/versions", json={"experiment": run.id})
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_auto_weighs_an_experts_adapter_against_the_base_model_by_the_verdicts(
    server: Server, tmp_path: Path
):
    """With ``auto``, an expert's champion adapter and the same backend's base model are two
    choices, measured apart: answers through the adapter judged good and the base model's
    bad, the selector comes to prefer the adapter for the intent."""
    api = httpx.Client(base_url=f"{server.url}{API}", headers=server.bob)
    version = _registered_adapter(server, api, "turkish", 1, tmp_path)["version"]
    api.put("/models/expert-turkish/aliases/champion", json={"version": version})
    chosen = []
    for _ in range(40):
        _, events = server.chat(server.bob, message="Türk kahvesi nasıl pişirilir?")
        turn = events[-1][1]["turn"]
        assert turn["intent"] == "turkish_culture", turn
        chosen.append(turn["adapter"])
        verdict = "good" if turn["adapter"] == f"turkish@{version}" else "bad"
        api.post(f"/chat/turns/{turn['id']}/feedback", json={"verdict": verdict})
    assert None in chosen[:10]  # the base model was tried
    # Five choices (two backends with and without the adapter, one down): 9 or 10 of the
    # last 10 through the adapter in 12 runs; a uniform chooser sends 2.
    assert chosen[-10:].count(f"turkish@{version}") >= 7, chosen
    rows = [row for row in api.get("/chat/performance").json()
            if row["task"] == "turkish_culture"]  # fmt: skip
    preferred = next(row["candidate"] for row in rows if row["preferred"])
    assert preferred.endswith(f"/turkish@{version}"), rows
    assert {"quick", f"quick/turkish@{version}"} <= {row["candidate"] for row in rows}


def _answers(server: Server, backend: str) -> int:
    rows = httpx.get(f"{server.url}{API}/chat/performance", headers=server.bob).json()
    return sum(row["answers"] for row in rows if row["candidate"] == backend)


def test_an_experts_adapters_are_versions_and_the_chat_follows_its_champion(
    server: Server, tmp_path: Path
):
    """An adapter tracked as a run's model and registered is the expert's version; the chat
    answers through the version ``champion`` names, a move and a rollback taking effect at the
    next message; predict refuses an adapter's version."""
    api = httpx.Client(base_url=f"{server.url}{API}", headers=server.bob)
    for attempt in (1, 2):
        made = _registered_adapter(server, api, "python", attempt, tmp_path)
        assert made["pipeline"] == "assist-adapter"

    def answered() -> str:
        status, events = server.chat(server.ada, message="def f(): pass", model="python")
        assert status == 200, events
        assert events[0][1]["adapter"] == events[-1][1]["turn"]["adapter"]
        return str(events[-1][1]["turn"]["answer"])

    assert answered() == "echo: def f(): pass"  # no champion yet: the base model
    api.put("/models/expert-python/aliases/champion", json={"version": 1})
    assert answered().startswith("[python@1] echo:")
    api.put("/models/expert-python/aliases/champion", json={"version": 2})
    assert answered().startswith("[python@2] echo:")
    assert api.post("/models/expert-python/aliases/champion/rollback").status_code == 200
    assert answered().startswith("[python@1] echo:")
    measured = {row["candidate"] for row in api.get("/chat/performance").json()}
    assert {"python@1", "python@2"} <= {c.split("/")[-1] for c in measured}  # each apart
    refused = api.post("/models/expert-python/1/predict", json={"rows": [{"x": 1}]})
    assert refused.status_code == 409 and "LoRA adapter of the assistant" in refused.text
