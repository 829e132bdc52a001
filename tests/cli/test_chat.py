"""``azuraforge chat`` driven through a pseudo-terminal, as a user types into it."""

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

AZURAFORGE = Path(sys.executable).parent / "azuraforge"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours and cursor moves on a terminal


class Terminal:
    """A program on a pseudo-terminal: type lines, read until text appears."""

    def __init__(self, args, env):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.seen = ""

    def expect(self, text, timeout=60.0):
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    raw = os.read(self.master, 4096).decode("utf-8", "replace")
                    self.seen += ANSI.sub("", raw).replace("\r", "")
                except OSError:  # the program ended
                    break
        if text not in self.seen:
            raise AssertionError(f"{text!r} never appeared; the screen:\n{self.seen}")
        start = self.seen.index(text) + len(text)
        shown, self.seen = self.seen[:start], self.seen[start:]
        return shown

    def type(self, line):
        os.write(self.master, (line + "\n").encode())

    def close(self):
        self.process.wait(timeout=30)
        os.close(self.master)
        return self.process.returncode


@pytest.fixture
def chat(tmp_path):
    env = {**os.environ, "AZURAFORGE_HOME": str(tmp_path), "COLUMNS": "200", "TERM": "dumb"}

    def start(*options):
        return Terminal([str(AZURAFORGE), "chat", "--backend", "echo", *options], env)

    return start


@pytest.mark.slow
def test_a_conversation_with_commands_streams_answers_and_remembers_across_sessions(
    chat, tmp_path
):
    terminal = chat("--user", "ayse")
    terminal.expect("/help for commands")
    terminal.type("Kız kardeşimin adı Elif.")
    terminal.expect("ai> echo: Kız kardeşimin adı Elif.")
    terminal.type("pandas ile CSV dosyası nasıl okunur?")
    assert "code_python" in terminal.expect("-> python)")
    terminal.type("/switch turkish")
    terminal.expect("expert: turkish")
    terminal.type("hello")
    terminal.expect("-> turkish)")
    terminal.type("/switch chef")
    terminal.expect("no expert 'chef'")
    terminal.type("/feedback bad")
    terminal.expect("feedback saved")
    terminal.type("/clear")
    terminal.expect("conversation cleared")
    terminal.type("/help")
    terminal.expect("/quit")
    terminal.type("/quit")
    assert terminal.close() == 0
    assert (tmp_path / "assist" / "feedback.jsonl").read_text().count('"verdict": "bad"') == 1
    turns = (tmp_path / "assist" / "turns.jsonl").read_text().splitlines()
    assert len(turns) == 3

    later = chat("--user", "ayse")
    later.expect("/help for commands")
    later.type("/memory")
    later.expect("'users': {'ayse': 3}")
    later.type("kız kardeşimin adı neydi?")
    later.expect("memory_recall")
    os.write(later.master, b"\x04")  # Ctrl-D leaves too
    assert later.close() == 0
    assert '"memories": 3' in (tmp_path / "assist" / "turns.jsonl").read_text().splitlines()[-1]


def test_a_bad_backend_is_one_line_and_exit_code_2(chat):
    terminal = Terminal(
        [str(AZURAFORGE), "chat", "--backend", "gpt5"], {**os.environ, "COLUMNS": "200"}
    )
    shown = terminal.expect("got 'gpt5'")
    assert "--backend must be one of echo, llama, openai, transformers, got" in shown
    assert "Traceback" not in shown and terminal.close() == 2


def test_a_plugin_files_backend_answers_in_the_terminal(tmp_path):
    from tests.assist.backends.shout_plugin import shout_folder

    folder = shout_folder(tmp_path / "plugins")
    env = {**os.environ, "AZURAFORGE_HOME": str(tmp_path), "AZURAFORGE_PLUGINS_DIR": str(folder),
           "COLUMNS": "200", "TERM": "dumb"}  # fmt: skip
    terminal = Terminal([str(AZURAFORGE), "chat", "--backend", "shout", "--no-memory"], env)
    terminal.expect("(shout, ")
    terminal.type("merhaba dünya")
    shown = terminal.expect("MERHABA DÜNYA!")
    os.write(terminal.master, b"\x04")
    assert "Traceback" not in shown and terminal.close() == 0


@pytest.fixture
def weather_router(tmp_path):
    from azuraforge.assist.embeddings import CharNgrams
    from azuraforge.assist.routing import IntentRouter
    from tests.assist.test_orchestrator import WEATHER

    folder = tmp_path / "router"
    IntentRouter(CharNgrams(dim=512), threshold=0.0, fallback="greet").fit(WEATHER).save(folder)
    return folder


def test_a_users_router_answers_with_the_experts_its_map_names(chat, weather_router):
    (weather_router / "experts.json").write_text('{"weather": "turkish"}')
    terminal = chat("--no-memory", "--router", str(weather_router))
    terminal.expect("/help for commands")
    terminal.type("will it rain in Ankara tomorrow?")
    assert "(weather " in terminal.expect("-> turkish)")
    terminal.type("Traceback (most recent call last): KeyError: 'x'")  # no code rules here
    terminal.expect("ai> echo: Traceback")
    shown = terminal.expect("you>")
    assert "code_debug" not in shown and ("(greet " in shown or "(weather " in shown)
    terminal.type("/quit")
    assert terminal.close() == 0


@pytest.mark.parametrize(
    ("content", "code", "said"),
    [
        ('{"weather": "chef"}', 1, "goes to expert 'chef'; experts: general, turkish, python"),
        (None, 2, "no file"),
    ],
)
def test_a_bad_expert_map_is_one_line_and_an_exit_code(
    chat, weather_router, tmp_path, content, code, said
):
    mapping = tmp_path / "map.json"
    if content is not None:
        mapping.write_text(content)
    terminal = chat("--no-memory", "--router", str(weather_router), "--expert-map", str(mapping))
    shown = terminal.expect(said)
    assert "Traceback" not in shown and terminal.close() == code


def test_each_project_keeps_its_own_memory_turns_and_feedback(tmp_path):
    from typer.testing import CliRunner

    from azuraforge.cli.chat import project_folder
    from azuraforge.cli.main import app

    assist = tmp_path / "assist"
    assert project_folder(assist, "default") == assist  # where they were before projects
    assert project_folder(assist, "lab.2") == assist / "projects" / "lab.2"
    for bad in ("../elsewhere", "/etc", ".hidden", "a/b", ""):
        refused = CliRunner().invoke(app, ["chat", "--backend", "echo", "--project", bad])
        assert refused.exit_code == 2, refused.output
        assert "--project must be a project's name" in refused.output


@pytest.mark.slow
def test_logged_in_the_chat_is_the_servers_memory_conversations_and_review_queue(
    sqlite_template, tmp_path
):
    import httpx

    from azuraforge.platform.settings import AssistBackend
    from tests.platform.fixtures import served_chat, user_headers

    backends = [AssistBackend(name="quick", kind="echo")]
    (tmp_path / "server").mkdir()
    with served_chat(sqlite_template, tmp_path / "server", backends) as (url, store):
        ada = user_headers(store, "ada", "editor")  # the Review queue is an editor's
        # Told on the Chat page, known in the terminal.
        told = httpx.post(f"{url}/api/v1/chat", json={"message": "Kız kardeşimin adı Elif."},
                          headers=ada, timeout=30)  # fmt: skip
        assert told.status_code == 200 and "event: end" in told.text
        env = {**os.environ, "AZURAFORGE_HOME": str(tmp_path / "home"), "COLUMNS": "200",
               "TERM": "dumb", "AZURAFORGE_API_URL": url,
               "AZURAFORGE_TOKEN": ada["Authorization"].removeprefix("Bearer ")}  # fmt: skip
        terminal = Terminal([str(AZURAFORGE), "chat"], env)
        terminal.expect(f"({url}, ada in project default)")
        terminal.expect("you>")
        terminal.type("/memory")
        assert "message: Kız kardeşimin adı Elif." in terminal.expect("you>")
        terminal.type("/switch chef")
        terminal.expect("no expert 'chef'; experts: general, turkish, python; backends: quick")
        terminal.type("/feedback bad")
        terminal.expect("no answer yet")
        terminal.type("pandas ile CSV dosyası nasıl okunur?")
        terminal.expect("ai> echo: pandas ile CSV dosyası nasıl okunur?")
        assert "code_python" in terminal.expect("-> python) on quick")
        terminal.type("/feedback correction pd.read_csv('a.csv')")
        shown = terminal.expect("is correction")
        terminal.type("/quit")
        assert "Traceback" not in shown and terminal.close() == 0
        turn = int(re.search(r"turn (\d+) is correction", shown).group(1))
        examples = httpx.get(f"{url}/api/v1/assist/examples", headers=ada).json()["data"]
        mine = next(e for e in examples if e["turn_id"] == turn)
        assert (mine["prompt"], mine["output"]) == (
            "pandas ile CSV dosyası nasıl okunur?", "pd.read_csv('a.csv')"
        )  # fmt: skip
        conversations = httpx.get(f"{url}/api/v1/chat/conversations", headers=ada).json()
        assert len(conversations["data"]) == 2  # the Chat page's and the terminal's
    assert not (tmp_path / "home" / "assist").exists()  # nothing kept in the terminal's home


@pytest.mark.slow
def test_local_chat_logged_in_answers_with_the_servers_expert_adapter(sqlite_template, tmp_path):
    from azuraforge import track
    from azuraforge.client import Client
    from azuraforge.platform.settings import AssistBackend
    from tests.platform.fixtures import served_chat, user_headers

    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF: an adapter trained on the server, which echo only names")
    backends = [AssistBackend(name="quick", kind="echo")]
    (tmp_path / "server").mkdir()
    with served_chat(sqlite_template, tmp_path / "server", backends) as (url, store):
        token = user_headers(store, "ed", "editor")["Authorization"].removeprefix("Bearer ")
        with track.start_run(name="python-v1", experiment="train-expert", url=url,
                             token=token) as run:  # fmt: skip
            run.log_adapter(str(adapter), expert="python", base_model="smollm2-135m-instruct")
        with Client(url, token=token) as client:
            client.models.register("expert-python", run.id)
        env = {**os.environ, "AZURAFORGE_HOME": str(tmp_path / "home"), "COLUMNS": "200",
               "TERM": "dumb", "AZURAFORGE_API_URL": url, "AZURAFORGE_TOKEN": token}  # fmt: skip
        terminal = Terminal(
            [str(AZURAFORGE), "chat", "--local", "--backend", "echo", "--no-memory"], env
        )
        terminal.expect(f"fetched expert-python/1 from {url} as python@v1")
        terminal.expect("/help for commands")
        terminal.type("pandas ile CSV dosyası nasıl okunur?")
        shown = terminal.expect("-> python)")
        terminal.type("/quit")
        assert "Traceback" not in shown and terminal.close() == 0
    assist = tmp_path / "home" / "assist"
    turn = json.loads((assist / "turns.jsonl").read_text().splitlines()[-1])
    assert turn["adapter"] == "python@v1"  # the server's version answered
    assert (assist / "experts" / "python" / "v1" / "adapter.gguf").read_bytes() == (
        adapter.read_bytes()
    )


def test_local_chats_even_when_logged_in(tmp_path):
    terminal = Terminal(
        [str(AZURAFORGE), "chat", "--backend", "echo", "--no-memory", "--local"],
        {**os.environ, "AZURAFORGE_HOME": str(tmp_path), "AZURAFORGE_TOKEN": "afk_unused",
         "AZURAFORGE_API_URL": "http://127.0.0.1:9", "TERM": "dumb"},
    )  # fmt: skip
    terminal.expect("(echo, ")
    terminal.type("merhaba")
    terminal.expect("ai> echo: merhaba")
    os.write(terminal.master, b"\x04")
    assert terminal.close() == 0
