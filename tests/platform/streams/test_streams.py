"""The job kind ``stream``: a stream runs under a lease to its end and scores what the library
loop scores; killed mid-way, the kernel restarts it from its checkpoint and it ends with every
prediction scored once; a bad config is refused where it enters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from types import SimpleNamespace
from typing import Any

import pytest

from azuraforge.errors import DataFormatError
from azuraforge.learn.datasets.fetching import dataset_file
from azuraforge.platform.jobs.local import settings_environment
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.services.streams.job import start_stream
from azuraforge.platform.services.streams.loop import SOURCE_FOUND, _Pacer, _Triggers
from azuraforge.platform.services.streams.readings import EQUITY_POINTS, trading_scores
from azuraforge.platform.services.streams.sources import SourceRows
from azuraforge.platform.services.validation import ConfigError
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.store.states import QUEUED, RUNNING
from azuraforge.platform.store.streams import Answer, write_stream_steps
from azuraforge.stream import Event, SourceReport
from azuraforge.stream.direction import has_log_loss, make_learner
from azuraforge.stream.shadow import ShadowLoop
from azuraforge.testing.streams import START, shifted_prices
from tests.platform.jobs.conftest import btc_with_text_closes, children, soak_data, wait_for

EVENTS, EVERY = 1500, 250
CONFIG = {"source": "btc-hourly", "learner": "logreg-adam", "max_events": EVENTS,
          "checkpoint_every": EVERY, "window": 300, "retrain_every": 300,
          "shadow_events": 200, "rollback_events": 100}  # fmt: skip
"""Candidates open on a schedule, so a stream stopped anywhere has changes to keep too."""


@dataclass
class Unbroken:
    """The library loop over the same events, never stopped: its scores by role, each
    model's own scores by name, its changes, how many predictions it scored and its first
    learner's name."""

    scores: dict[str, float]
    by_name: dict[str, float]
    changes: list[tuple[str, int, str]]
    scored: int
    first: str


def unbroken_loop(config: dict[str, Any]) -> Unbroken:
    """The library loop of a stream of ``config`` (a dataset's, ``max_events`` of them) as its
    job makes it (:func:`~azuraforge.platform.services.streams.loop.learn`), never stopped."""
    checked = StreamConfig.model_validate(config)
    shadow = ShadowLoop(
        lambda kind, number: make_learner(kind, checked.seed + number - 1), checked.learner,
        checked.rules(), column=checked.price_column, horizon=checked.horizon,
        window=checked.window, features=checked.features(),
    )  # fmt: skip
    changes = []
    for event in islice(checked.replay(dataset_file(str(checked.source))), checked.max_events):
        changes += shadow.step(event)[1]
    lineage = [(c.kind, c.event, c.model) for c in changes]
    first = f"{checked.learner}-1"
    return Unbroken(shadow.scores(), shadow.loop.scores(), lineage, shadow.loop.scored, first)


@pytest.fixture(scope="module")
def unbroken(real_data: object) -> Unbroken:
    return unbroken_loop(CONFIG)


def assert_kept_once(store: Store, run_id: int, unbroken: Unbroken) -> None:
    """The stream's scored rows: each model's, once per prediction, scoring as it did; its
    lineage: each change of the unbroken loop, once."""
    rows = store.outcome_scores(run_id)
    for model in {key.split("/")[0] for key in unbroken.by_name}:
        _, accuracy, loss = rows[model]
        assert accuracy == pytest.approx(unbroken.by_name[f"{model}/accuracy"], abs=1e-12)
        if has_log_loss(model):  # a trivial rule has none
            assert loss == pytest.approx(unbroken.by_name[f"{model}/log_loss"], rel=1e-9)
    assert rows["always up"][0] == rows[unbroken.first][0] == unbroken.scored
    lineage = [(c.kind, c.event, c.model) for c in store.list_changes(run_id)]
    assert lineage == unbroken.changes and len(lineage) >= 4


def assert_each_checkpoint_once(store: Store, run_id: int) -> None:
    """A checkpoint's points once, at every ``EVERY`` events and at each change."""
    logged = steps(store, run_id)
    assert logged == sorted(set(logged))
    assert set(range(EVERY, EVENTS + 1, EVERY)) <= set(logged)


def steps(store: Store, run_id: int) -> list[int]:
    return [s for s, _, _ in store.get_metrics(run_id).get("events", [])]


def test_a_stream_runs_to_its_end_and_scores_as_the_loop_does(
    store: Store, settings: Settings, unbroken: Unbroken
) -> None:
    record = start_stream(store, LocalTransport(), settings, CONFIG)
    assert (record.kind, record.requeue_lost, record.status) == ("stream", True, "queued")
    Worker(settings, store).run_next()
    done = store.get_experiment(record.id)
    assert done.status == "completed", done.error
    assert done.result is not None
    assert (done.result["events"], done.result["scored"]) == (EVENTS, EVENTS - 24 - 1)
    assert done.result["accuracy"] == unbroken.scores["champion/accuracy"]
    assert done.metrics["champion/log_loss"] == unbroken.scores["champion/log_loss"]
    assert_each_checkpoint_once(store, record.id)
    assert_kept_once(store, record.id, unbroken)


def test_a_stream_killed_mid_way_resumes_from_its_checkpoint_and_loses_nothing(
    store: Store, settings: Settings, unbroken: Unbroken
) -> None:
    # 400 events a second: the kill, once the first checkpoint is seen, comes 3 s before
    # the end, and a paced replay that fell behind does not catch up in a burst.
    paced = {**CONFIG, "speed": 3600 * 400.0, "max_restarts": 2}
    record = start_stream(store, LocalTransport(), settings, paced)
    killed: list[int] = []

    def kill_after_a_checkpoint() -> None:
        (child,) = wait_for(children)  # the store is touched only once the job forked
        wait_for(lambda: steps(store, record.id))
        os.kill(child, signal.SIGKILL)
        killed.append(child)

    killer = threading.Thread(target=kill_after_a_checkpoint)
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
    # Every model's every score, none twice, none lost (a role's last points stay when it
    # ends: the last candidate's, here).
    assert {k: done.metrics[k] for k in unbroken.scores} == unbroken.scores
    assert_kept_once(store, record.id, unbroken)  # a row per model and prediction, once
    assert_each_checkpoint_once(store, record.id)
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
    store: Store, settings: Settings, unbroken: Unbroken
) -> None:
    """Its job processes fork from a worker process of their own, as ``azuraforge serve``'s
    do: forked from this test's process, after some of the suite's modules, they took one
    event each between restarts (CI runs 45 and 46; never alone)."""
    paced = {**CONFIG, "speed": 3600 * 500.0, "restart_every": 1.0}  # 3 s of events
    record = start_stream(store, LocalTransport(), settings, paced)
    command = [sys.executable, "-m", "azuraforge.platform.jobs.worker", "--parent",
               str(os.getpid())]  # fmt: skip
    log = settings.data_dir.parent / "worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        worker = subprocess.Popen(command, env=settings_environment(settings), stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while store.get_experiment(record.id).status in (QUEUED, RUNNING):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and any job process it left
        worker.wait(timeout=30)
    done = store.get_experiment(record.id)
    assert done.status == "completed", (done.error, log.read_text()[-3000:])
    reasons = [entry["reason"] for entry in done.restart_history or []]
    assert len(reasons) >= 2 and set(reasons) == {"schedule"}
    assert done.result is not None and done.result["scored"] == EVENTS - 24 - 1
    assert {k: done.metrics[k] for k in unbroken.scores} == unbroken.scores
    assert_kept_once(store, record.id, unbroken)
    logged = steps(store, record.id)
    assert logged == sorted(set(logged)) and logged[-1] == EVENTS  # each position once


def test_a_trigger_is_taken_once_and_its_first_answer_kept(
    store: Store, settings: Settings
) -> None:
    record = start_stream(store, LocalTransport(), settings, {"source": "btc-hourly"})
    trigger = store.create_trigger(record.id, "retrain", actor="ana")
    ctx = SimpleNamespace(store=store, lease=SimpleNamespace(experiment_id=record.id))
    triggers = _Triggers(ctx)  # type: ignore[arg-type]
    assert [t.id for t in triggers.due(now=True)] == [trigger.id]
    assert triggers.due(now=True) == []  # its answer is not stored yet: not taken again
    with store._begin() as connection:
        write_stream_steps(connection, record.id, [], [Answer(trigger.id, "done", 7, "first")])
        write_stream_steps(connection, record.id, [], [Answer(trigger.id, "refused", 9, "late")])
    (answered,) = store.list_triggers(record.id)
    assert (answered.status, answered.event, answered.message) == ("done", 7, "first")


def test_a_paced_replay_that_fell_behind_goes_on_at_its_pace_not_in_a_burst() -> None:
    pacer = _Pacer(speed=20.0, stopping=lambda: False)  # events 1 s apart: 50 ms each
    assert pacer.wait(Event(0.0, {}))
    time.sleep(1.2)  # a busy machine: event 1 was due 1.15 s ago
    began = time.monotonic()
    assert pacer.wait(Event(1.0, {}))  # taken at once, the pace counted from it
    assert pacer.wait(Event(2.0, {}))  # and the next one 50 ms later, not at once
    assert time.monotonic() - began >= 0.045


def test_a_followed_file_is_learned_as_it_grows_until_the_stream_is_stopped(
    store: Store, settings: Settings
) -> None:
    prices = shifted_prices(900, 10_000, seed=4)
    rows = [f"{datetime.fromtimestamp(START + 3600 * i, UTC).isoformat()},{p:.6f}\n"
            for i, p in enumerate(prices)]  # fmt: skip
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    live = settings.data_dir / "live.csv"
    live.write_text("time,close\n" + "".join(rows[:400]))
    config = {"source": "live.csv", "follow": True, "checkpoint_every": 50, "drift": None}
    record = start_stream(store, LocalTransport(), settings, config)
    worker = threading.Thread(target=Worker(settings, store).run_next)
    worker.start()
    wait_for(children)  # the store is touched only once the job forked (test_runner.logged)
    wait_for(lambda: 400 in steps(store, record.id), timeout=30)
    with live.open("a") as handle:  # rows written while it runs
        handle.writelines(rows[400:])
    wait_for(lambda: 900 in steps(store, record.id), timeout=30)
    store.request_cancel(record.id)  # no row comes any more: the stop ends its wait
    worker.join(timeout=30)
    done = store.get_experiment(record.id)
    assert (done.status, done.result and done.result["events"]) == ("cancelled", 900)
    assert done.result["scored"] == 900 - 24 - 1


@pytest.mark.parametrize(
    ("config", "field"),
    [({"source": "btc-hourly", "follow": True}, "follow"),
     ({"source": "live.csv", "follow": True, "speed": 3600.0}, "speed")],
)  # fmt: skip
def test_follow_needs_a_data_folder_file_and_no_speed(
    store: Store, settings: Settings, config: dict[str, object], field: str
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "live.csv").write_text("time,close\n2024-01-01,1.0\n")
    with pytest.raises(ConfigError) as refused:
        start_stream(store, LocalTransport(), settings, config)
    assert [path[0] for path, _ in refused.value.problems] == [field]


def test_columns_named_in_another_case_run_under_the_files_spelling(
    store: Store, settings: Settings
) -> None:
    """``close`` (the default) for a file's ``Close`` was accepted at the start, then failed
    its job: its events carry the header's spelling. A time column of another name is named
    (it was read only from a url's rows), and one the file lacks is refused at the start."""
    prices = shifted_prices(120, 10_000, seed=5)
    rows = [f"{START + 86400 * i},{p:.4f}\n" for i, p in enumerate(prices)]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "daily.csv").write_text("No,Close\n" + "".join(rows))
    with pytest.raises(ConfigError, match=r"daily\.csv has no column 'when'; its columns: No, "):
        start_stream(store, LocalTransport(), settings,
                     {"source": "daily.csv", "time_column": "when"})  # fmt: skip
    config = {"source": "daily.csv", "time_column": "no"}
    record = start_stream(store, LocalTransport(), settings, config)
    assert (record.config["price_column"], record.config["time_column"]) == ("Close", "No")
    Worker(settings, store).run_next()
    done = store.get_experiment(record.id)
    assert done.status == "completed", done.error
    assert done.result is not None and done.result["scored"] == 120 - 24 - 1


def test_an_equity_curve_is_thinned_keeping_its_first_and_last_steps() -> None:
    rows = [(3600.0 * i, 0.6, 0.001) for i in range(1000)]  # always long, 0.1 % a step
    found = trading_scores({"m": rows}, cost=0.0)
    times, values = found.equity["m"]
    assert len(times) == EQUITY_POINTS and (times[0], times[-1]) == (0.0, 3600.0 * 999)
    assert values == pytest.approx([1.001 ** (1 + t / 3600) for t in times])
    assert found.equity["buy and hold"] == found.equity["m"]
    assert found.models["m"]["total_return"] == pytest.approx(values[-1] - 1)


def test_a_stream_past_its_share_of_bad_rows_fails_saying_which_without_a_restart(
    store: Store, settings: Settings
) -> None:
    """100 text closes in 3,000 rows (3.3 %) ended "completed 2,900 events" with nothing
    said, where ``stream replay`` refuses the file."""
    btc_with_text_closes(settings, 3000, 30)
    record = start_stream(store, LocalTransport(), settings, {"source": "btc.csv"})
    Worker(settings, store).run_next()
    done = store.get_experiment(record.id)
    assert done.status == "failed" and not done.restart_history
    assert done.error is not None and str(settings.data_dir) not in done.error
    assert (
        "btc.csv: 100 of 3,001 rows could not be used (3.3%, over 1.0%): unparseable 100 "
        "(first: line 3: close is 'n/a', expected a number). Mend the source" in done.error
    )
    assert "raise max_bad_rows" in done.error


@pytest.mark.on_both_databases  # the checkpoint's entry is read alone, by a JSON path
def test_a_stream_keeps_what_its_source_skipped_and_says_it_in_its_log(
    store: Store, settings: Settings
) -> None:
    btc_with_text_closes(settings, 3000, 30)
    config = {"source": "btc.csv", "max_bad_rows": 0.05, "checkpoint_every": 1000}
    record = start_stream(store, LocalTransport(), settings, config)
    Worker(settings, store).run_next()
    done = store.get_experiment(record.id)
    assert done.status == "completed", done.error
    assert done.result is not None and done.result["events"] == 2900
    found = store.find_checkpoint_entry(record.id, SOURCE_FOUND)
    assert found["skipped"] == {"unparseable": 100, "duplicate": 1}
    assert (found["rows"], found["events"], found["banner_lines"]) == (3001, 2900, [1])
    assert found["newest_first"] and found["examples"]["unparseable"][0].startswith("line 3: ")
    assert found["lines"][0].startswith("2,900 events from 3,001 rows, ")
    logs = [
        e.payload["message"] for e in store.list_events(experiment_id=record.id, kinds=["log"])
    ]
    assert any(m.startswith("btc.csv: skipped 100 row(s), unparseable: line 3: ") for m in logs)
    assert "btc.csv: skipped banner line(s) 1" in logs


def test_a_followed_file_past_its_share_of_bad_rows_fails_at_a_checkpoint(
    store: Store, settings: Settings
) -> None:
    """A followed file's rows come as they are written: its share is judged at each
    checkpoint, on the rows read so far."""
    path = soak_data(settings, days=300)  # the real London days, oldest first
    lines = path.read_text().splitlines()
    for at in range(150, 301, 10):  # after 150 good days, a text pressure every 10th day
        cells = lines[at].split(",")
        cells[8] = "n/a"
        lines[at] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    config = {"source": "london.csv", "follow": True, "price_column": "pressure",
              "checkpoint_every": 50, "drift": None}  # fmt: skip
    record = start_stream(store, LocalTransport(), settings, config)
    worker = threading.Thread(target=Worker(settings, store).run_next)
    worker.start()
    worker.join(timeout=60)  # it fails by itself: a followed file never ends
    if worker.is_alive():  # it did not: stopped, so that the test fails and goes on
        store.request_cancel(record.id)
        worker.join(timeout=30)
    done = store.get_experiment(record.id)
    assert done.status == "failed", done.error
    assert done.error is not None and not done.restart_history
    # Judged at its checkpoints: at event 150 no row was bad; at 200, 6 of the 206 read.
    assert "london.csv: 6 of 206 rows could not be used (2.9%, over 1.0%): unparseable 6 " in (
        done.error
    )
    assert "(first: line 151: pressure is 'n/a', expected a number)" in done.error
    assert steps(store, record.id) == [50, 100, 150, 200]  # its last checkpoint kept


def test_a_growing_source_is_judged_once_one_bad_row_alone_is_within_its_share() -> None:
    """One text value among a feed's first 40 rows (2.5 %) failed the stream for good at its
    first checkpoint; it is judged from 1 / max_bad_rows rows on."""
    report = SourceReport(rows=40)
    report.skip("unparseable", "line 7: close is 'n/a', expected a number")
    rows = SourceRows(report, "feed.csv", 0.01)
    rows.check_so_far()
    with pytest.raises(DataFormatError, match=r"feed\.csv: 1 of 40 rows could not be used"):
        rows.check()
    report.rows = 100
    report.skip("unparseable", "line 90: close is '', expected a number")
    with pytest.raises(DataFormatError, match="2 of 100 rows could not be used"):
        rows.check_so_far()
