"""A study's trials share their process, one after another, as Optuna runs them; a trial that
kills its process takes only itself down, and a process runs ``jobs_per_process`` at most."""

from __future__ import annotations

import os
import signal
import threading

from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.studies import StudyDefinition, StudyService
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.jobs.conftest import children, wait_for


def trial_pids(store: Store, study_id: int) -> list[int | None]:
    """The process id each trial of the study logged (``None``: none), by trial number."""
    runs = sorted(store.list_trial_runs(study_id), key=lambda run: run.number)
    pids = [store.get_metrics(run.id, ["pid"]).get("pid") for run in runs]
    return [int(points[0][1]) if points else None for points in pids]


def grid_study(studies: StudyService, xs: list[float], **base: object) -> int:
    definition = StudyDefinition(
        pipeline="quadratic", space={"x": xs}, sampler="grid", n_trials=len(xs),
        base_config={"log_pid": True, "steps": 1, **base},
    )  # fmt: skip
    return studies.create(definition).id


def run_all(worker: Worker) -> None:
    while worker.run_next() is not None:
        pass
    worker.close()


def test_a_trial_that_kills_its_process_fails_alone_and_the_next_gets_a_fresh_one(
    studies: StudyService, store: Store, settings: Settings
) -> None:
    study = grid_study(studies, [0.1, 0.2, 0.9, 0.4, 0.5], crash_at=0.9)
    run_all(Worker(settings, store))

    report = studies.report(study)
    by_number = sorted(report.trials, key=lambda trial: trial["number"])
    [crashed] = [n for n, trial in enumerate(by_number) if trial["params"]["x"] == 0.9]
    assert [t["status"] for t in by_number] == [
        "failed" if n == crashed else "completed" for n in range(5)
    ]
    assert "the run's process died (exit code 7)" in by_number[crashed]["note"]
    pids = trial_pids(store, study)
    before, after = set(pids[:crashed]), set(pids[crashed + 1 :])
    assert len(before) <= 1 and len(after) <= 1 and not before & after
    assert os.getpid() not in before | after
    assert report.study.status == "completed"


def test_a_process_runs_jobs_per_process_trials_and_runs_never_share_one(
    studies: StudyService, store: Store, settings: Settings
) -> None:
    study = grid_study(studies, [0.1, 0.2, 0.3, 0.4, 0.5])
    run_all(Worker(settings.model_copy(update={"jobs_per_process": 2}), store))
    a, b, c, d, e = trial_pids(store, study)
    assert a == b and c == d and len({a, c, e}) == 3

    runs = [store.create_experiment("quadratic", {"log_pid": True, "steps": 1}) for _ in "ab"]
    run_all(Worker(settings, store))
    pids = {store.get_metrics(run.id, ["pid"])["pid"][0][1] for run in runs}
    assert len(pids) == 2


def test_a_kept_process_that_died_while_idle_is_replaced(
    studies: StudyService, store: Store, settings: Settings
) -> None:
    study = grid_study(studies, [0.1, 0.2, 0.3])
    worker = Worker(settings, store)
    worker.run_next()
    idle = worker.processes.idle
    assert idle is not None
    os.kill(idle.pid, signal.SIGKILL)
    run_all(worker)

    assert [t["status"] for t in studies.report(study).trials] == ["completed"] * 3
    first, second, third = trial_pids(store, study)
    assert first == idle.pid and second == third != first


def test_a_trial_cancelled_in_a_kept_process_does_not_stop_the_next(
    studies: StudyService, store: Store, settings: Settings
) -> None:
    study = grid_study(studies, [0.1, 0.2], steps=50, sleep=0.05)
    worker = Worker(settings, store)
    running = threading.Thread(target=worker.run_next)
    running.start()
    wait_for(children)  # the store is touched only once the trial forked (test_runner.logged)
    [first] = store.list_trial_runs(study)
    wait_for(lambda: store.get_metrics(first.id, ["pid"]))  # its pipeline runs
    store.request_cancel(first.id)
    running.join(10)
    assert not running.is_alive()
    run_all(worker)

    by_number = sorted(store.list_trial_runs(study), key=lambda run: run.number)
    assert [run.status for run in by_number] == ["cancelled", "completed"]
    first_pid, second_pid = trial_pids(store, study)
    assert first_pid == second_pid  # the cancelled trial ended cleanly: its process was kept
