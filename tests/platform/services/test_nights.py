"""The nightly pass: queued once a day per project after its hour, over the turns since the
last one; run by a real worker, it keeps the facts users stated in their own memory with the
turn each came from, reports the failure patterns and the examples waiting, and starts the
fine-tune of an expert with enough approved examples (not a second while one is under way)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from azuraforge.assist.embeddings import memory_embedder
from azuraforge.assist.routing import default_router
from azuraforge.platform.jobs.local import WORKER_MODULE, settings_environment
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.services.chat import proposed_from
from azuraforge.platform.services.chat_memory import ChatMemory
from azuraforge.platform.services.fine_tunes import FINE_TUNE, is_held_out
from azuraforge.platform.services.nights import NIGHT, schedule_nights
from azuraforge.platform.settings import AssistBackend, Settings
from azuraforge.platform.store import ExperimentQuery, Store
from azuraforge.platform.store.chat import TurnWrite
from azuraforge.platform.store.states import COMPLETED, QUEUED


def _turn(message: str, intent: str = "general_chat", expert: str = "general") -> TurnWrite:
    return TurnWrite(message=message, answer="an answer", intent=intent, expert=expert,
                     adapter=None, backend="local", reason="", first_token_ms=1.0,
                     tokens_per_s=1.0, tokens_in=1, tokens_out=1)  # fmt: skip


def _nights(store: Store, project: str = "default") -> list[Any]:
    return list(store.list_experiments(ExperimentQuery(project=project, kinds=(NIGHT,))).items)


def test_a_night_is_queued_once_a_day_per_project_after_its_hour(settings: Settings, store):
    store.create_project("beta")
    for project in ("default", "beta"):  # a turn in each: nights read turns kept since
        talk = store.create_conversation("ana", "t", project=project)
        store.add_chat_turn(talk.id, "ana", _turn("Hello."), project=project)
    store.create_project("quiet")  # nobody chatted there: no night
    now = time.time() + 60
    hour = datetime.fromtimestamp(now, UTC).hour
    transport, scheduled = LocalTransport(), {}
    if hour < 23:
        later_hour = settings.model_copy(
            update={"assist_nightly": True, "assist_nightly_hour": hour + 1}
        )
        assert schedule_nights(store, transport, later_hour, {}, now=now) == []
    at_midnight = settings.model_copy(update={"assist_nightly": True, "assist_nightly_hour": 0})
    first = schedule_nights(store, transport, at_midnight, scheduled, now=now)
    assert sorted(n.project for n in first) == ["beta", "default"]
    assert (first[0].config["since"], first[0].config["until"]) == (now - 86_400, now)
    later = now + 60  # another server's sweep, knowing nothing: the store says
    assert schedule_nights(store, transport, at_midnight, {}, now=later) == []
    assert schedule_nights(store, transport, at_midnight, scheduled, now=later) == []
    tomorrow = schedule_nights(store, transport, at_midnight, scheduled, now=now + 86_400)
    assert tomorrow == []  # no turn kept since
    off = settings.model_copy(update={"assist_nightly": False, "assist_nightly_hour": 0})
    assert schedule_nights(store, transport, off, {}, now=now + 2 * 86_400) == []


@pytest.fixture
def learning(settings: Settings) -> Settings:
    """Settings with a llama backend declared (a fine-tune's base; none runs here), the
    memory in a SQLite file, and a fine-tune due after two approved examples."""
    backend = AssistBackend(name="local", kind="llama", model="smollm2-135m-instruct")
    return settings.model_copy(update={
        "assist_backends": [backend], "assist_fine_tune_after": 2,
        "assist_memory_url": f"sqlite:///{settings.home / 'memory.db'}",
    })  # fmt: skip


def test_a_night_keeps_facts_reports_failures_and_starts_a_fine_tune(learning: Settings, store):
    talk = store.create_conversation("ana", "a day", project="default")
    said = [
        store.add_chat_turn(talk.id, "ana", _turn(text), project="default")
        for text in ("My daughter is named Defne. Can you help me plan a trip?",
                     "I work at a bank.",  # the whole message: kept already, as said
                     "What is the capital of France?")
    ]  # fmt: skip
    code = [store.add_chat_turn(talk.id, "ana", _turn(f"Sort {n} numbers.", "code_python",
                                                      "python"), project="default")
            for n in range(3)]  # fmt: skip
    store.set_turn_verdict(code[0].id, "ana", "bad", project="default")
    store.set_turn_verdict(code[1].id, "ana", "correction", "sorted(xs)", project="default")
    store.set_turn_check(code[2].id, "error", "NameError", project="default")
    approved = []  # the two failures, and others until a fine-tune may judge its adapter
    while len(approved) < 2 or sum(is_held_out(i, 0.3) for i in approved) < 5:
        turn = code[len(approved)] if len(approved) < 2 else replace(
            code[0], message=f"Sort {len(approved)} words.", id=None
        )  # fmt: skip
        example = store.propose_example(proposed_from(turn, "marked"), project="default")
        store.review_example(example.id, reviewer="rev", status="approved", output="sorted(xs)",
                             project="default")  # fmt: skip
        approved.append(example.id)
    store.propose_example(proposed_from(code[2], "the guardian"), project="default")
    night = _run_night(store, learning)
    assert night.status == COMPLETED, night.error
    report = night.result["report"]
    assert (report["turns"], report["users"], report["candidates"]) == (6, 1, 1)
    assert report["facts"] == [{"user": "ana", "fact": "My daughter is named Defne.",
                                "turn": said[0].id, "conversation": talk.id}]  # fmt: skip
    [python, general] = report["patterns"]
    assert (python["intent"], python["answers"], python["failures"]) == ("code_python", 3, 3)
    assert (python["bad"], python["corrected"], python["failed_checks"]) == (1, 1, 1)
    assert (general["failures"], general["failure_rate"]) == (0, 0.0)
    [started] = report["fine_tunes"]
    fine_tune = store.get_experiment(started["run"])
    assert (fine_tune.kind, fine_tune.status, fine_tune.config["expert"]) == (
        FINE_TUNE,
        QUEUED,
        "python",
    )
    memory = ChatMemory(learning.assist_memory_url,
                        lambda: memory_embedder(default_router().embedder))  # fmt: skip
    facts = [m for m in memory.of("default", "ana").recent(10) if m.meta.get("kind") == "fact"]
    assert [(m.text, m.meta["turn"], m.meta["night"]) for m in facts] == [
        ("My daughter is named Defne.", said[0].id, night.id)
    ]
    memory.close()

    again = _run_night(store, learning)  # the fine-tune queued: not a second one
    assert again.result["report"]["fine_tunes"] == [
        {"expert": "python", "run": None, "why": "one is under way"}
    ]
    assert again.result["report"]["turns"] == 0  # none since the last pass


def _run_night(store: Store, settings: Settings) -> Any:
    """Queue a pass by hand and run it in a worker process of its own, as a server does, not
    in a job process forked from this many-threaded test process: in CI run 93 such a fork
    waited for ever inside the E5 model's native embedding call (the model and its OpenMP
    library loaded by an earlier test of this pytest worker)."""
    from azuraforge.platform.services.nights import queue_night

    now = datetime.now(UTC)
    night = queue_night(store, None, "default", now.timestamp(), now.date().isoformat(), by="rev")
    assert night is not None
    subprocess.run([sys.executable, "-m", WORKER_MODULE, "--job", str(night.id)],
                   env=settings_environment(settings), check=True, timeout=300)  # fmt: skip
    return store.get_experiment(night.id)
