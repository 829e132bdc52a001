"""The assistant learning from use, the whole loop on a real server, worker and model (the tiny
random Llama through llama.cpp, trained with PEFT): answers marked wrong and corrected become
candidate examples, a reviewer approves them, a fine-tune job trains an adapter on them, its
adapter is registered as the expert's next version and judged against the champion by the
paired test on the examples it did not train on, promoted, and the chat answers through it;
the same fine-tune again (an adapter identical to the champion) is registered but never
promoted."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import uvicorn
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.api.app import create_app
from azuraforge.platform.jobs.local import WORKER_MODULE, settings_environment
from azuraforge.platform.services.fine_tunes import is_held_out
from azuraforge.platform.store import Store
from azuraforge.platform.store.examples import ProposedExample
from tests.platform.fixtures import tiny_chat_settings, user_headers
from tests.platform.servers import served_in_thread

pytestmark = pytest.mark.slow

API = "/api/v1"
RIGHT = "Merhaba, the quick brown fox!"
NAMES = ["Ada", "Alan", "Grace", "Linus", "Guido", "Barbara", "Edsger", "Donald", "Ken",
         "Dennis", "Bjarne", "James", "Niklaus", "John", "Margaret", "Frances", "Tim",
         "Vint", "Radia", "Hedy", "Anita", "Jean", "Kathleen", "Sophie"]  # fmt: skip
CORPUS = ["The quick brown fox jumps over the lazy dog.", "Merhaba dünya!",
          " ".join(f"Greet {name}. {RIGHT}" for name in NAMES)]  # fmt: skip
FINE_TUNE = {
    "expert": "python", "steps": 60, "rank": 4, "alpha": 8.0, "learning_rate": 0.01,
    "batch_size": 4, "max_tokens": 200, "replay": 0.25, "held_out": 0.4, "frozen": 2,
    "answer_tokens": 12, "threads": 1, "checkpoint_every": 20,
}  # fmt: skip


class Server:
    def __init__(self, url: str, store: Store, worker: subprocess.Popen[bytes]) -> None:
        self.url, self.store, self.worker = url, store, worker
        self.ada = user_headers(store, "ada", "viewer")
        self.rev = user_headers(store, "rev", "editor")
        self.http = httpx.Client(base_url=f"{url}{API}", timeout=60)

    def ask(self, message: str) -> dict[str, Any]:
        """The stored turn of the python expert's answer to ``message``."""
        with self.http.stream("POST", "/chat", headers=self.ada,
                              json={"message": message, "model": "python", "max_tokens": 12,
                                    "temperature": 0}) as answer:  # fmt: skip
            text = "".join(answer.iter_text())
        assert answer.status_code == 200, text
        last = text.strip().split("\n\n")[-1]
        assert last.startswith("event: end"), text
        return dict(httpx.Response(200, content=last.split("data: ", 1)[1]).json()["turn"])

    def finished(self, run: int, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.http.get(f"/runs/{run}", headers=self.rev).json()
            if found["status"] in ("completed", "failed", "cancelled", "lost"):
                return dict(found)
            time.sleep(0.3)
        raise AssertionError(f"run {run} did not end in {timeout} s")


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("learning")
    settings = tiny_chat_settings(sqlite_template, home, CORPUS, seed=5)
    store = Store(settings.database_url)
    worker = subprocess.Popen([sys.executable, "-m", WORKER_MODULE],
                              env=settings_environment(settings))  # fmt: skip
    try:
        with served_in_thread(uvicorn.Config(create_app(settings, store=store),
                                             log_level="warning")) as address:  # fmt: skip
            yield Server(f"http://{address}", store, worker)
    finally:
        worker.terminate()
        worker.wait(30)
        store.close()


def test_failures_reviewed_train_an_adapter_that_is_promoted_only_when_better(server: Server):
    # Each wrong answer corrected is a candidate example, named by its turn.
    for name in NAMES:
        turn = server.ask(f"Greet {name}.")
        assert not turn["answer"].startswith(RIGHT)  # the random model cannot know it
        said = server.http.post(f"/chat/turns/{turn['id']}/feedback", headers=server.ada,
                                json={"verdict": "correction", "correction": RIGHT})  # fmt: skip
        assert said.status_code == 200, said.text
    again = server.ask("Greet  Ada.")  # the same prompt but for its spacing: merged
    server.http.post(f"/chat/turns/{again['id']}/feedback", headers=server.ada,
                     json={"verdict": "bad"})  # fmt: skip
    assert server.http.get("/assist/examples", headers=server.ada).status_code == 403
    page = server.http.get("/assist/examples", headers=server.rev,
                           params={"status": "candidate", "expert": "python",
                                   "limit": 500}).json()  # fmt: skip
    assert page["total"] == len(NAMES)
    ada = next(e for e in page["data"] if e["prompt"] == "Greet Ada.")
    assert (ada["seen"], ada["turn_id"], ada["output"]) == (2, again["id"], RIGHT)
    assert ada["why"] == "marked bad by ada" and ada["expert"] == "python"
    refused = server.http.post("/assist/fine-tunes", headers=server.rev, json=FINE_TUNE)
    assert refused.status_code == 409 and "approve" in refused.json()["error"]["message"]

    for example in page["data"]:
        reviewed = server.http.patch(f"/assist/examples/{example['id']}", headers=server.rev,
                                     json={"status": "approved"})  # fmt: skip
        assert reviewed.json()["status"] == "approved" and reviewed.json()["reviewer"] == "rev"
    held = [e["id"] for e in page["data"] if is_held_out(e["id"], FINE_TUNE["held_out"])]
    assert 5 <= len(held) <= len(NAMES) - 5  # enough to judge, enough to learn from

    # The fine-tune: a run with a loss curve, its adapter a version, promoted by the test.
    queued = server.http.post("/assist/fine-tunes", headers=server.rev, json=FINE_TUNE)
    assert queued.status_code == 201, queued.text
    run = server.finished(queued.json()["id"])
    assert run["status"] == "completed", run
    decision = run["result"]["decision"]
    assert decision["promote"] is True and decision["champion"] is None, decision
    assert f"{len(held)} to 0" in decision["reason"]
    curve = server.http.get(f"/runs/{run['id']}/metrics", headers=server.rev).json()
    assert "train_loss" in str(curve)
    version = _version(server, 1)
    assert version["metrics"]["held_out_better"] == len(held)
    assert version["source_experiment_id"] == run["id"]
    used = server.http.get("/assist/examples", headers=server.rev,
                           params={"expert": "python", "limit": 500}).json()["data"]  # fmt: skip
    assert {e["used_as"] for e in used if e["id"] in held} == {"held out"}
    assert {e["fine_tune"] for e in used} == {run["id"]}

    # The chat answers through the new champion, as taught.
    turn = server.ask("Greet Zeynep.")
    assert turn["adapter"] == "python@1" and turn["answer"].startswith("Merhaba"), turn

    # The same fine-tune again: an adapter identical to the champion, never promoted.
    twin = server.finished(server.http.post("/assist/fine-tunes", headers=server.rev,
                                            json=FINE_TUNE).json()["id"])  # fmt: skip
    assert twin["status"] == "completed" and twin["result"]["decision"]["promote"] is False
    assert twin["result"]["decision"]["champion"] == 1
    second = _version(server, 2)
    assert second["aliases"] == [] and second["description"] == twin["result"]["notes"][0]
    assert _version(server, 1)["aliases"] == ["champion"]


def _version(server: Server, number: int, timeout: float = 30) -> dict[str, Any]:
    """Version ``number`` of ``expert-python``, waited for: the worker registers a fine-tune's
    adapter once its run completed."""
    deadline = time.monotonic() + timeout
    while True:
        found = server.http.get(f"/models/expert-python/versions/{number}", headers=server.rev)
        if found.status_code == 200 or time.monotonic() > deadline:
            assert found.status_code == 200, found.text
            return dict(found.json())
        time.sleep(0.2)


def test_a_fine_tune_queued_from_the_command_line_resumes_after_a_crash_and_is_cancelled(
    server: Server, monkeypatch: pytest.MonkeyPatch
):
    made = []  # enough held out for the paired test to be able to promote, and one to train
    while sum(is_held_out(i, 0.5) for i in made) < 5 or all(is_held_out(i, 0.5) for i in made):
        proposed = ProposedExample(expert="turkish", intent="turkish_chat",
                                   prompt=f"Say {len(made)}.", wrong_output="?",
                                   why="marked bad by ada")  # fmt: skip
        made.append(server.store.propose_example(proposed, project="default").id)
        server.store.review_example(made[-1], reviewer="rev", status="approved",
                                    output=f"{len(made)}!", project="default")  # fmt: skip
    monkeypatch.setenv("AZURAFORGE_TOKEN", server.rev["Authorization"].removeprefix("Bearer "))
    cli = CliRunner()
    where = ("--api-url", server.url)
    listed = cli.invoke(app, ["assist", "examples", "--expert", "turkish", *where])
    assert listed.exit_code == 0 and "Say 2." in listed.output, listed.output
    few = cli.invoke(app, ["assist", "fine-tune", "turkish", "--held-out", "0.01", *where])
    assert few.exit_code == 1 and "needs one to train on and 5 held out" in few.output
    bad = cli.invoke(app, ["assist", "fine-tune", "klingon", *where])
    assert bad.exit_code == 2 and "no expert 'klingon'; experts:" in bad.output, bad.output
    queued = cli.invoke(app, ["assist", "fine-tune", "turkish", "--steps", "100000",
                              "--frozen", "0", "--held-out", "0.5", "--checkpoint-every", "5",
                              *where])  # fmt: skip
    assert queued.exit_code == 0, queued.output
    run = int(queued.output.split("queued run ")[1].split()[0])
    _wait_for(server, run, lambda found: found["progress"] >= 6 / 100_000)
    [job] = psutil.Process(server.worker.pid).children()  # the run's process
    job.kill()  # a crash: the kernel starts it again, from the last state it kept
    resumed = _wait_for(server, run, lambda _: "resuming from step" in _logs(server, run))
    assert resumed["status"] == "running"
    kept = int(_logs(server, run).split("resuming from step ")[1].split()[0])
    assert kept >= 5  # a state kept every 5 steps: not from the start
    cancelled = server.http.post(f"/runs/{run}/cancel", headers=server.rev)
    assert cancelled.status_code == 202, cancelled.text
    ended = server.finished(run, timeout=90)
    assert ended["status"] == "cancelled", ended
    versions = server.http.get("/models/expert-turkish/versions", headers=server.rev)
    assert versions.status_code == 404  # a cancelled fine-tune registers nothing


def _wait_for(server: Server, run: int, done: Any, timeout: float = 120) -> dict[str, Any]:
    """Run ``run`` once ``done(it)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        found = dict(server.http.get(f"/runs/{run}", headers=server.rev).json())
        if done(found):
            return found
        assert time.monotonic() < deadline, f"run {run}: {found}"
        time.sleep(0.2)


def _logs(server: Server, run: int) -> str:
    lines = server.http.get(f"/runs/{run}/logs", headers=server.rev).json()["data"]
    return "\n".join(line["message"] for line in lines)
