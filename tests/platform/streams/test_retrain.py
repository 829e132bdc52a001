"""A stream's candidates trained as retrain runs (``retrain_as: run``): the run on another
worker, its metrics pass by pass beside its baselines, the candidate it opens, the lineage
from the events to the run to the registry's version."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from sqlalchemy import update

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.kinds import listed_kinds
from azuraforge.platform.jobs.local import WORKER_MODULE, settings_environment
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.streams.job import start_stream
from azuraforge.platform.services.streams.registry import register_changes
from azuraforge.platform.services.streams.retrain import RetrainConfig, Retrainer, train
from azuraforge.platform.services.validation import ConfigError
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentQuery, Store
from azuraforge.platform.store.models import Experiment
from azuraforge.stream import CsvReplay
from azuraforge.stream.direction import make_learner
from azuraforge.stream.online import pack_examples
from azuraforge.stream.shadow import Change, ShadowLoop, ShadowRules
from azuraforge.testing.streams import write_shifted_csv
from tests.platform.jobs.conftest import children, wait_for

EVENTS, SHIFT = 5000, 3000
SHORT_SHIFT = 2000


def outcomes(settings: Settings, count: int) -> RetrainConfig:
    """A retrain's config of the last 300 outcomes of the shifted series' first ``count``
    events."""
    path = write_shifted_csv(settings.data_dir / "shift.csv", EVENTS, SHIFT)
    loop = ShadowLoop(lambda kind, n: make_learner(kind, n), "logreg-adam",
                      ShadowRules(drift=None, warm=300))  # fmt: skip
    for event in list(CsvReplay(path, columns=["close"], price_column="close"))[:count]:
        loop.step(event)
    packed = pack_examples(loop.loop.examples, loop.loop.features.names)
    return RetrainConfig(stream=1, learner="logreg-adam", until_event=count - 1, outcomes=packed)


def test_a_retrain_keeps_its_best_pass_and_scores_it_beside_one_pass_and_the_base_rate(
    settings: Settings,
) -> None:
    config = outcomes(settings, SHIFT + 400)  # 300 outcomes, all after the shift
    seen: list[dict[str, float]] = []
    trained = train(config, lambda epoch, metrics: seen.append(metrics) is None)
    assert trained.epochs == len(seen) and 1 <= trained.best_epoch <= trained.epochs
    losses, accuracies = trained.held_out["log_loss"], trained.held_out["accuracy"]
    assert losses["model"] == min(m["val_loss"] for m in seen)
    assert losses["one pass"] == seen[0]["val_loss"]
    assert accuracies["model"] == seen[trained.best_epoch - 1]["val_accuracy"]
    assert losses["model"] < losses["base rate"]  # it learned the new regime's reversals
    assert accuracies["model"] > 0.6 > accuracies["base rate"]
    stopped = train(config, lambda epoch, metrics: epoch < 2)  # a cancel after pass 2
    assert stopped.epochs == 2
    few = config.model_copy(update={"outcomes": pack_examples([({"x": 1.0}, True)] * 5, ["x"])})
    with pytest.raises(
        InvalidParameterError, match="needs 20 outcomes or more; the stream kept 5"
    ):
        train(few)


def answered(store: Store, stream: int, action: str, **asked: str) -> None:
    """Ask ``stream`` for ``action`` and wait for its answer."""
    trigger = store.create_trigger(stream, action, actor="ana", **asked)
    wait_for(lambda: store.list_triggers(stream)[-1].status != "pending", timeout=30)
    (found,) = [t for t in store.list_triggers(stream) if t.id == trigger.id]
    assert found.status == "done", found.message


def test_a_retrain_asked_for_runs_on_another_worker_and_its_learner_is_promoted(
    store: Store, settings: Settings
) -> None:
    write_shifted_csv(settings.data_dir / "shift.csv", SHORT_SHIFT + 3000, SHORT_SHIFT)
    config = {
        "source": "shift.csv",
        "retrain_as": "run",
        "retrain_epochs": 10,
        "warm": 200,
        "checkpoint_every": 100,
        "drift": None,
        "speed": 3600 * 800.0,
    }  # 3 s to pause
    stream = start_stream(store, LocalTransport(), settings, config, name="shifted")
    # NOTE: the stream's worker is a process of its own: a worker thread here renewing its
    # lease while this thread forked the retrain's job once left the job's SQLite locked.
    command = [sys.executable, "-m", WORKER_MODULE, "--job", str(stream.id)]
    runner = subprocess.Popen(command, env=settings_environment(settings))
    try:
        wait_for(lambda: store.get_metrics(stream.id).get("events", [(0,)])[-1][0] >= 2300,
                 timeout=30)  # fmt: skip
        answered(store, stream.id, "pause")  # the retrain's learner opens while it waits
        answered(store, stream.id, "retrain", reason="the regime changed")
        Worker(settings, store).run_next()  # the retrain
        wait_for(lambda: store.list_changes(stream.id, kinds=["candidate"]), timeout=30)
        answered(store, stream.id, "resume")
        assert runner.wait(timeout=30) == 0
    finally:
        runner.kill()
    done = store.get_experiment(stream.id)
    assert done.status == "completed", done.error
    lineage = store.list_changes(stream.id)
    assert [c.kind for c in lineage][:3] == ["retrain", "candidate", "promote"], [
        (c.kind, c.event, c.reason) for c in lineage]  # fmt: skip
    asked, opened, promoted = lineage[:3]
    assert asked.run is not None and opened.run == asked.run and opened.event == asked.event
    assert opened.evidence["val_loss"] < opened.evidence["val_loss_base_rate"]
    assert opened.reason.startswith(f"the regime changed; trained by run {asked.run}")
    retrain = store.get_experiment(asked.run)
    assert (retrain.kind, retrain.status, retrain.project) == ("retrain", "completed", "default")
    assert retrain.config["stream"] == stream.id and retrain.config["until_event"] == asked.event
    passes = [step for step, _, _ in store.get_metrics(retrain.id)["val_loss"]]
    assert passes == list(range(1, len(passes) + 1))
    assert {"val_loss_one_pass", "val_loss_base_rate"} <= set(retrain.metrics)
    assert retrain.id in [r.id for r in store.list_experiments().items]  # listed as a run
    register_changes(store, open_blobs(settings))
    (registered,) = store.list_changes(stream.id, kinds=["promote"])
    version = store.get_version("shifted", registered.version or 0)
    assert version.config["run"] == asked.run and version.config["learner"] == promoted.model
    assert f"trained by run {asked.run}" in version.description


def test_a_stream_that_ends_before_its_retrain_run_cancels_it_saying_so(
    store: Store, settings: Settings
) -> None:
    write_shifted_csv(settings.data_dir / "shift.csv", 700, 10_000)
    config = {"source": "shift.csv", "retrain_as": "run", "retrain_every": 300, "drift": None,
              "warm": 100}  # fmt: skip
    stream = start_stream(store, LocalTransport(), settings, config)
    Worker(settings, store).run_next()  # the only worker: its retrain never starts
    assert store.get_experiment(stream.id).status == "completed"
    asked, ended = store.list_changes(stream.id)
    assert (asked.kind, ended.kind, ended.run) == ("retrain", "retrain_failed", asked.run)
    assert ended.reason == f"the stream ended before run {asked.run} did; run cancelled"
    assert store.get_experiment(asked.run or 0).status == "cancelled"
    assert store.load_checkpoint(stream.id)["shadow"]["asked"] is None  # type: ignore[index]


def asked_loop(settings: Settings, events: int = 400) -> ShadowLoop:
    """A loop (its rules: candidates trained out of it) that asked for a retrain after
    ``events`` events of the shifted series."""
    path = write_shifted_csv(settings.data_dir / "shift.csv", events, 10_000)
    loop = ShadowLoop(lambda kind, n: make_learner(kind, n), "logreg-adam",
                      ShadowRules(drift=None, warm=100, trained_out=True))  # fmt: skip
    for event in CsvReplay(path, columns=["close"], price_column="close"):
        loop.step(event)
    loop.ask(actor="ana")
    return loop


def retrainer(store: Store, settings: Settings, timeout: float = 60.0) -> Retrainer:
    stream = store.create_experiment("stream", {}, name="s", kind="stream")
    return Retrainer(store, LocalTransport(), stream, epochs=3, seed=0, timeout=timeout)


def test_an_ask_sent_again_after_a_restart_takes_the_same_run(
    store: Store, settings: Settings
) -> None:
    loop, side = asked_loop(settings), retrainer(store, settings)
    asked = loop.asked
    (first,) = side.send(loop, Change("retrain", loop.last_event, 0.0, "logreg-adam"))
    loop.asked = asked  # resumed from a checkpoint saved before the send
    (again,) = side.send(loop, Change("retrain", loop.last_event, 0.0, "logreg-adam"))
    assert loop.asked is not None
    assert first.run == again.run == loop.asked.run is not None
    listed = store.list_experiments(ExperimentQuery(kinds=listed_kinds())).items
    assert [r.kind for r in listed] == ["retrain"]  # one run in the run list


@pytest.mark.parametrize("ending", ["deleted", "other learner", "timeout", "few outcomes"])
def test_a_retrain_with_no_usable_run_fails_saying_why(
    store: Store, settings: Settings, ending: str
) -> None:
    loop = asked_loop(settings, 30 if ending == "few outcomes" else 400)
    side = retrainer(store, settings, timeout=0.0 if ending == "timeout" else 60.0)
    changes = side.send(loop, Change("retrain", loop.last_event, 0.0, "logreg-adam"))
    run = changes[0].run
    if ending == "deleted":
        store.request_cancel(run or 0)
        store.delete_experiment(run or 0)
    if ending == "other learner":  # as if a worker had trained another kind
        with store._begin() as connection:
            connection.execute(
                update(Experiment).where(Experiment.id == run).values(
                    status="completed", result={"learner": "mlp", "state": {}})
            )  # fmt: skip
    found = changes[1:] or side.look(loop, now=True)
    (failed,) = found
    reasons = {
        "deleted": f"run {run} was deleted",
        "other learner": f"run {run} completed without a usable learner: it trained 'mlp'",
        "timeout": f"run {run} did not end within 0 s (queued); run cancelled",
        "few outcomes": "no run was queued: a retrain needs 20 outcomes or more; the stream "
        "kept 5",
    }
    assert (failed.kind, failed.reason) == ("retrain_failed", reasons[ending])
    assert loop.asked is None and loop.open_to_candidates()
    if ending == "timeout":
        assert store.get_experiment(run or 0).status == "cancelled"


def test_a_stream_stopped_while_its_retrain_run_waits_cancels_the_run(
    store: Store, settings: Settings
) -> None:
    write_shifted_csv(settings.data_dir / "shift.csv", 3000, 10_000)
    config = {"source": "shift.csv", "retrain_as": "run", "retrain_every": 300, "drift": None,
              "warm": 100, "speed": 3600 * 500.0}  # fmt: skip
    stream = start_stream(store, LocalTransport(), settings, config)
    runner = threading.Thread(target=Worker(settings, store).run_next)  # the only worker
    runner.start()
    wait_for(children)  # the store is touched only once the stream's job forked
    wait_for(lambda: store.list_changes(stream.id, kinds=["retrain"]), timeout=30)
    store.request_cancel(stream.id)
    runner.join(timeout=30)
    assert store.get_experiment(stream.id).status == "cancelled"
    asked, ended = store.list_changes(stream.id)
    assert (ended.kind, ended.run) == ("retrain_failed", asked.run)
    assert ended.reason == f"the stream ended before run {asked.run} did; run cancelled"
    assert store.get_experiment(asked.run or 0).status == "cancelled"


def test_a_retrain_run_needs_enough_kept_outcomes(store: Store, settings: Settings) -> None:
    with pytest.raises(ConfigError, match="a retrain run needs 20 kept outcomes or more"):
        start_stream(store, LocalTransport(), settings,
                     {"source": "btc-hourly", "retrain_as": "run", "warm": 10})  # fmt: skip
