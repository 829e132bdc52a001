"""The process a worker forks ahead of its next job (``Worker.prepare``, as a fork server's
zygote hands out a process with the imports done): a run started in it completes in it, is
killed alone when it ignores a cancel, one that died while it waited is replaced by a fresh
one, and a plugin changed or installed since it was forked is what its run sees."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azuraforge.platform.jobs import supervision
from azuraforge.platform.jobs.ahead import Imported, LastJob
from azuraforge.platform.jobs.supervision import Supervision
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.helpers import write_pipeline_plugin
from tests.platform.fixtures import install_plugin
from tests.platform.jobs.conftest import children, wait_for

VERSIONED = """
import os
from pathlib import Path

from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult

Path(__file__).with_name(f"imported-by-{os.getpid()}").touch()


class Versioned(Pipeline[PipelineConfig]):
    name = "versioned"
    description = "Says which version of its file ran."
    Config = PipelineConfig

    def run(self, config, ctx):
        ctx.log_metrics({"version": VERSION}, step=1)
        return RunResult(metrics={"version": VERSION})
"""


@pytest.fixture
def worker(settings: Settings, store: Store) -> Iterator[Worker]:
    worker = Worker(settings, store)
    yield worker
    worker.close()


def forks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a job's process is forked when its job comes."""
    monkeypatch.setattr(supervision, "job_process", lambda *_, **__: pytest.fail("forked"))


def ready_pid(worker: Worker) -> int:
    ready = worker.processes.ready
    assert ready is not None and ready.alive()
    return ready.pid


def submit(store: Store, **config: Any) -> int:
    return store.create_experiment("sleeper", {"sleep": 0, **config}).id


def test_a_run_starts_in_the_process_forked_ahead_which_exits_with_it(
    worker: Worker, store: Store, sleeper: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker.prepare()
    pid = ready_pid(worker)
    worker.prepare()  # one is ready already: no other is forked
    assert children() == [pid]
    forks_nothing(monkeypatch)
    run = submit(store, steps=3)
    assert worker.run_next() == Supervision("completed")
    record = store.get_experiment(run)
    assert (record.status, record.error) == ("completed", None)
    assert [s for s, _, _ in store.get_metrics(run)["loss"]] == [1, 2, 3]
    assert worker.processes.ready is None and children() == []  # it ran that job alone


def test_a_run_ignoring_its_cancel_is_killed_alone_and_the_next_one_runs(
    worker: Worker, store: Store, sleeper: Path
) -> None:
    worker.settings = worker.settings.model_copy(update={"cancel_grace": 0.2})
    worker.prepare()
    pid = ready_pid(worker)
    run = submit(store, steps=1000, sleep=0.01, ignore_cancel=True)

    def cancel() -> None:
        wait_for(lambda: store.get_metrics(run))
        store.request_cancel(run)

    canceller = threading.Thread(target=cancel)
    canceller.start()
    assert worker.run_next() == Supervision("cancelled", forced=True)
    canceller.join()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    assert store.get_experiment(run).status == "cancelled"
    worker.prepare()
    assert ready_pid(worker) != pid
    after = submit(store, steps=2)
    assert worker.run_next() == Supervision("completed")
    assert store.get_experiment(after).status == "completed"


def test_a_process_that_died_while_it_waited_is_replaced_by_a_fresh_one(
    worker: Worker, store: Store, sleeper: Path
) -> None:
    worker.prepare()
    dead = ready_pid(worker)
    os.kill(dead, signal.SIGKILL)
    wait_for(lambda: not worker.processes.ready or not worker.processes.ready.alive())
    worker.prepare()  # forks a fresh one
    fresh = ready_pid(worker)
    assert fresh != dead and children() == [fresh]
    os.kill(fresh, signal.SIGKILL)  # dies too: the job's worker forks one at the job
    run = submit(store, steps=2)
    assert worker.run_next() == Supervision("completed")
    assert store.get_experiment(run).status == "completed"
    assert children() == []


def write_versioned(folder: Path, version: int) -> None:
    """The plugin at ``version``: its file's size and last change (whole seconds apart, as
    a bytecode cache tells them) differ from every other version's."""
    source = VERSIONED.replace("VERSION", str(version)) + "#" * version + "\n"
    write_pipeline_plugin(
        folder, "versioned_plugin", source, {"versioned": "versioned_plugin:Versioned"}
    )
    changed = time.time_ns() + version * 10**10
    os.utime(folder / "versioned_plugin" / "__init__.py", ns=(changed, changed))


def test_a_plugin_changed_after_the_process_imported_it_ahead_is_run_as_changed(
    worker: Worker, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_versioned(tmp_path, 1)
    install_plugin(monkeypatch, tmp_path)
    first = store.create_experiment("versioned", {}).id
    assert worker.run_next() == Supervision("completed")
    assert worker.last_job == LastJob("run", "versioned")
    assert store.get_experiment(first).metrics == {"version": 1}
    worker.prepare()  # imports version 1 ahead
    imported = tmp_path / "versioned_plugin" / f"imported-by-{ready_pid(worker)}"
    wait_for(imported.exists)
    write_versioned(tmp_path, 2)
    second = store.create_experiment("versioned", {}).id
    assert worker.run_next() == Supervision("completed")
    assert store.get_experiment(second).metrics == {"version": 2}


def test_a_plugin_installed_after_the_process_was_forked_is_found_by_its_run(
    worker: Worker, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(monkeypatch, tmp_path)  # an empty folder of distributions, on sys.path
    worker.prepare()
    ready_pid(worker)
    time.sleep(0.01)  # the folder's last change moves on (what tells a new install)
    write_versioned(tmp_path, 3)
    run = store.create_experiment("versioned", {}).id
    assert worker.run_next() == Supervision("completed")
    assert store.get_experiment(run).metrics == {"version": 3}


@pytest.mark.parametrize("rewritten", [False, True])
def test_a_plugin_changed_while_it_was_imported_ahead_is_not_taken_for_the_one_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rewritten: bool
) -> None:
    # The file changes after the import read it and before the stamps are taken: without a
    # change it is the file imported; with one it must not pass for it.
    rewrite = "\nPath(__file__).write_text(Path(__file__).read_text() + '#')\n"
    source = VERSIONED.replace("VERSION", "1") + (rewrite if rewritten else "")
    write_pipeline_plugin(tmp_path, "versioned_plugin", source,
                          {"versioned": "versioned_plugin:Versioned"})  # fmt: skip
    module = tmp_path / "versioned_plugin" / "__init__.py"
    long_ago = time.time_ns() - 60 * 10**9
    os.utime(module, ns=(long_ago, long_ago))
    install_plugin(monkeypatch, tmp_path)
    try:
        imported = Imported.ahead_of(LastJob("run", "versioned"))
    finally:
        sys.modules.pop("versioned_plugin", None)  # later tests import their own version
    assert str(module) in imported.files
    assert imported.unchanged() is not rewritten
