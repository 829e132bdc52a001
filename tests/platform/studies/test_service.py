"""StudyService with a worker in this process: trials run, tell, ask, prune, fail, cancel.

Doubled on PostgreSQL (``on_both_databases``): a study is advanced under a row lock there and
a file lock on SQLite, and Optuna's storage is set up for each dialect apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from azuraforge.errors import ConflictError
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.studies import StudyDefinition, StudyService
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.studies.conftest import objective

pytestmark = pytest.mark.on_both_databases

X = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def run_all(worker: Worker) -> int:
    """Run queued jobs until none is left; how many ran."""
    ran = 0
    while worker.run_next() is not None:
        ran += 1
    return ran


def test_a_study_runs_its_budget_prunes_and_finds_the_best_trial(
    studies: StudyService, store: Store, settings: Settings
) -> None:
    definition = StudyDefinition(
        pipeline="quadratic", space=X, n_trials=8, parallelism=2, sampler="random", seed=1
    )
    study = studies.create(definition)
    assert (study.status, study.trials_created) == ("running", 2)  # the parallelism
    assert run_all(Worker(settings, store)) == 8

    report = studies.report(study.id)
    assert report.study.status == "completed" and report.study.trials_created == 8
    states = [t["status"] for t in report.trials]
    assert states.count("pruned") >= 1 and set(states) <= {"completed", "pruned"}
    complete = [t for t in report.trials if t["status"] == "completed"]
    for trial in complete:
        assert trial["value"] == pytest.approx(objective(trial["params"]["x"], 3))
        assert sorted(trial["intermediate_values"]) == [1, 2, 3]
    closest = min(complete, key=lambda t: abs(t["params"]["x"] - 0.3))
    assert report.best is not None and report.best["number"] == closest["number"]
    assert report.best["run_id"] == closest["run_id"]
    for pruned in (t for t in report.trials if t["status"] == "pruned"):
        assert pruned["optuna_state"] == "pruned" and len(pruned["intermediate_values"]) < 3
        run = store.get_experiment(pruned["run_id"])
        assert (run.kind, run.study_id, run.trial_number) == ("trial", study.id, pruned["number"])
    bests = [point["best"] for point in report.history]
    assert bests == sorted(bests, reverse=True) and bests[-1] == report.best["value"]
    assert report.importances == {"x": 1.0} and report.importances_note is None


def test_a_trial_pruned_at_its_last_step_ends_pruned_as_its_log_says(
    studies: StudyService, store: Store, settings: Settings
) -> None:
    # One step per trial: a prune comes at the last step, when nothing is left to stop.
    definition = StudyDefinition(
        pipeline="quadratic", space=X, base_config={"steps": 1}, n_trials=10,
        sampler="random", seed=3,
    )  # fmt: skip
    study = studies.create(definition)
    run_all(Worker(settings, store))
    report = studies.report(study.id)
    logged_pruned = set()
    for trial in report.trials:
        lines = store.list_events(experiment_id=trial["run_id"], kinds=["log"])
        if any(e.payload["message"].startswith("pruned at step 1:") for e in lines):
            logged_pruned.add(trial["number"])
    pruned = {t["number"] for t in report.trials if t["status"] == "pruned"}
    assert logged_pruned, "no trial was pruned: the test needs another seed"
    assert pruned == logged_pruned
    for trial in report.trials:
        assert (
            trial["optuna_state"] == {"pruned": "pruned", "completed": "complete"}[trial["status"]]
        ), trial
        run = store.get_experiment(trial["run_id"])
        assert (run.result or {}).get("pruned_at_step") == (1 if run.status == "pruned" else None)


def test_a_grid_tries_each_value_once_and_its_budget_is_the_grid(
    studies: StudyService, store: Store, settings: Settings
) -> None:
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.25}}
    definition = StudyDefinition(
        pipeline="quadratic", space=space, n_trials=100, sampler="grid", pruner="none"
    )
    study = studies.create(definition)
    assert study.n_trials == 5
    run_all(Worker(settings, store))
    report = studies.report(study.id)
    assert report.study.status == "completed"  # its last trial's end ended it, no sweep
    assert sorted(t["params"]["x"] for t in report.trials) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert report.best is not None and report.best["params"] == {"x": 0.25}
    for trial in report.trials:  # no pruner: the advance reported them from the run's metrics
        x = trial["params"]["x"]
        assert trial["intermediate_values"] == pytest.approx(
            {step: objective(x, step) for step in (1, 2, 3)}
        )


def test_a_failed_trial_is_failed_in_optuna_with_its_error(
    studies: StudyService, store: Store, settings: Settings
) -> None:
    definition = StudyDefinition(
        pipeline="quadratic", space={"shape": ["bowl"]}, base_config={"fail": True}, n_trials=1
    )
    study = studies.create(definition)
    run_all(Worker(settings, store))
    report = studies.report(study.id)
    [trial] = report.trials
    assert (trial["status"], trial["optuna_state"]) == ("failed", "fail")
    assert "RuntimeError: asked to fail" in trial["note"]
    assert report.best is None and report.importances_note == (
        "needs at least 2 completed trials; 0 so far"
    )
    assert report.study.status == "completed"


def test_advance_is_idempotent(studies: StudyService) -> None:
    study = studies.create(StudyDefinition(pipeline="quadratic", space=X, n_trials=4))
    for _ in range(3):
        again = studies.advance(study.id)
    assert again.trials_created == 1 and len(studies.store.list_trial_runs(study.id)) == 1


def test_an_advance_reads_only_the_trials_optuna_has_not_finished(
    studies: StudyService, store: Store, settings: Settings
) -> None:
    definition = StudyDefinition(pipeline="quadratic", space=X, n_trials=5, parallelism=2,
                                 sampler="random", pruner="none", seed=3)  # fmt: skip
    study = studies.create(definition)
    worker = Worker(settings, store)
    for _ in range(3):  # trials 0-2 end (each advance asks for the next)
        worker.run_next()
    found = store.open_trials(study)
    assert found.created == 5
    assert [(number, state) for _, number, state in found.trials] == [(3, "RUNNING"),
                                                                      (4, "RUNNING")]  # fmt: skip
    assert sorted(found.runs) == [3, 4]
    assert {run.status for run in found.runs.values()} == {"queued"}


def test_cancel_drops_queued_trials_and_ends_the_study(
    studies: StudyService, store: Store
) -> None:
    study = studies.create(
        StudyDefinition(pipeline="quadratic", space=X, n_trials=6, parallelism=3)
    )
    cancelled = studies.cancel(study.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    runs = store.list_trial_runs(study.id)
    assert [run.status for run in runs] == ["cancelled"] * 3
    report = studies.report(study.id)
    assert {t["optuna_state"] for t in report.trials} == {"fail"}
    assert {t["note"] for t in report.trials} == {"cancelled"}
    with pytest.raises(ConflictError, match="already ended as cancelled"):
        studies.cancel(study.id)


def test_a_required_setting_may_come_from_the_space_alone(
    no_studies: Store, tmp_path: Path
) -> None:
    """``"space": {"csv": [...]}`` without ``csv`` in the base config was refused "csv:
    required"; each trial sets it, and the base keeps no value of its own."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a.csv", "b.csv"):
        (data / name).write_text("date,x\n2024-01-01,1\n")
    studies = StudyService(no_studies, LocalTransport(), data_folder=DataFolder(data))
    try:
        definition = StudyDefinition(
            pipeline="forecaster",
            space={"csv": ["a.csv", "b.csv"], "hidden_size": [4, 8]},
            base_config={"target": "x"},
            sampler="grid",
            pruner="none",
        )
        study = studies.create(definition)
        assert "csv" not in study.base_config and study.base_config["target"] == "x"
        trials = no_studies.list_trial_runs(study.id)
        configs = [no_studies.get_experiment(run.id).config for run in trials]
        assert {config["csv"] for config in configs} <= {"a.csv", "b.csv"}
        assert len(trials) == 1  # parallelism 1: one queued at a time
    finally:
        studies.close()
