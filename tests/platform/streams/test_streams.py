"""The job kind ``stream``: a stream runs under a lease to its end and scores what the library
loop scores; killed mid-way, the kernel restarts it from its checkpoint and it ends with every
prediction scored once; a bad config is refused where it enters."""

from __future__ import annotations

import os
import signal
import threading
import time
from itertools import islice

import pytest

from azuraforge.learn.datasets.fetching import fetch
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.experiments import ConfigError
from azuraforge.platform.services.streams import start_stream
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.stream import CsvReplay
from azuraforge.stream.direction import default_learners
from azuraforge.stream.online import DirectionLoop
from tests.platform.jobs.conftest import children, wait_for

EVENTS, EVERY = 1500, 250
CONFIG = {"source": "btc-hourly", "learner": "logreg-adam", "max_events": EVENTS,
          "checkpoint_every": EVERY, "window": 300}  # fmt: skip


def unbroken() -> dict[str, float]:
    """The scores of the library loop over the same events, never stopped."""
    path = next(iter(fetch("btc-hourly").values()))
    loop = DirectionLoop(default_learners(0)["logreg-adam"], window=300)
    for event in islice(CsvReplay(path, columns=["close"], price_column="close"), EVENTS):
        loop.step(event)
    return loop.scores()


def assert_rows_match(store: Store, run_id: int, scores: dict[str, float]) -> None:
    """The stream's scored rows: each model's, once per prediction, scoring as it did."""
    rows = store.outcome_scores(run_id)
    assert set(rows) == {key.split("/")[0] for key in scores}
    for model, (predictions, accuracy, loss) in rows.items():
        assert predictions == EVENTS - 24 - 1
        assert accuracy == pytest.approx(scores[f"{model}/accuracy"], abs=1e-12)
        assert loss == pytest.approx(scores[f"{model}/log_loss"], rel=1e-9)


def steps(store: Store, run_id: int) -> list[int]:
    return [s for s, _, _ in store.get_metrics(run_id).get("model/accuracy", [])]


def test_a_stream_runs_to_its_end_and_scores_as_the_loop_does(
    store: Store, settings: Settings, real_data: object
) -> None:
    record = start_stream(store, LocalTransport(), settings, CONFIG)
    assert (record.kind, record.requeue_lost, record.status) == ("stream", True, "queued")
    Worker(settings, store).run_next()
    done = store.get_experiment(record.id)
    assert done.status == "completed", done.error
    assert done.result is not None
    assert (done.result["events"], done.result["scored"]) == (EVENTS, EVENTS - 24 - 1)
    scores = unbroken()
    assert done.result["accuracy"] == scores["model/accuracy"]
    assert steps(store, record.id) == list(range(EVERY, EVENTS + 1, EVERY))
    assert done.metrics["model/log_loss"] == scores["model/log_loss"]
    assert_rows_match(store, record.id, scores)


def test_a_stream_killed_mid_way_resumes_from_its_checkpoint_and_loses_nothing(
    store: Store, settings: Settings, real_data: object
) -> None:
    paced = {**CONFIG, "speed": 3600 * 600.0, "max_restarts": 2}  # 600 events a second
    record = start_stream(store, LocalTransport(), settings, paced)
    killed: list[int] = []

    def kill_after_two_checkpoints() -> None:
        (child,) = wait_for(children)  # the store is touched only once the job forked
        wait_for(lambda: len(steps(store, record.id)) >= 2)
        os.kill(child, signal.SIGKILL)
        killed.append(child)

    killer = threading.Thread(target=kill_after_two_checkpoints)
    killer.start()
    worker = Worker(settings, store)
    worker.run_next()  # the job dies; the kernel queues it again after its backoff
    killer.join()
    assert killed and store.get_experiment(record.id).status == "queued"
    time.sleep(1.2)  # the first backoff: 1 s
    worker.run_next()
    done = store.get_experiment(record.id)
    assert done.status == "completed", done.error
    assert [entry["reason"] for entry in done.restart_history or []] == ["crash"]
    assert done.result is not None and done.result["scored"] == EVENTS - 24 - 1
    scores = {k: v for k, v in done.metrics.items() if "/" in k}
    assert scores == unbroken()  # every model's every score: none twice, none lost
    assert_rows_match(store, record.id, scores)  # a row per model and prediction, once
    assert steps(store, record.id) == list(range(EVERY, EVENTS + 1, EVERY))  # each once
    logs = [
        e.payload["message"] for e in store.list_events(experiment_id=record.id, kinds=["log"])
    ]
    assert any(message.startswith("resumed at event ") for message in logs)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"source": "../etc/passwd"}, "source"),
        ({"source": "btc-hourly", "learner": "gpt"}, "learner"),
        ({"source": "btc-hourly", "horizon": 0}, "horizon"),
        ({"source": "btc-hourly", "surprise": 1}, "surprise"),
    ],
)
def test_a_bad_config_is_refused_naming_the_field(
    store: Store, settings: Settings, config: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        start_stream(store, LocalTransport(), settings, config)
    assert [path[0] for path, _ in refused.value.problems] == [field]
    assert store.list_experiments().total == 0


def test_scheduled_restarts_stop_at_an_event_and_lose_nothing(
    store: Store, settings: Settings, real_data: object
) -> None:
    paced = {**CONFIG, "speed": 3600 * 500.0, "restart_every": 1.0}  # 3 s of events
    record = start_stream(store, LocalTransport(), settings, paced)
    worker = Worker(settings, store)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        worker.run_next()
        if store.get_experiment(record.id).status != "queued":
            break
    done = store.get_experiment(record.id)
    assert done.status == "completed", done.error
    reasons = [entry["reason"] for entry in done.restart_history or []]
    assert len(reasons) >= 2 and set(reasons) == {"schedule"}
    assert done.result is not None and done.result["scored"] == EVENTS - 24 - 1
    assert {k: v for k, v in done.metrics.items() if "/" in k} == unbroken()
    logged = steps(store, record.id)
    assert logged == sorted(set(logged)) and logged[-1] == EVENTS  # each position once
