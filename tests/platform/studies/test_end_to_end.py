"""Studies for real: ``azuraforge tune`` against a running serve and its local workers, Celery
workers on the machine's Redis, and a trial whose worker is killed mid-run."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.jobs.celery_transport import CeleryTransport
from azuraforge.platform.services.studies import StudyDefinition, StudyService
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.jobs.conftest import wait_for
from tests.platform.jobs.test_faults import WorkerProcess
from tests.platform.jobs.test_transports import (  # noqa: F401 (redis_url is a fixture)
    CELERY_WORKER,
    empty_redis,
    redis_url,
    worker_environment,
)
from tests.platform.servers import bearer, free_port, start_serve
from tests.platform.studies.conftest import objective

pytestmark = pytest.mark.slow
STEPS = 6
SPACE = "x: {type: float, low: 0.0, high: 1.0}\nshape: [bowl, cup]\n"
STUDY = dict(pipeline="quadratic", space={"x": {"type": "float", "low": 0.0, "high": 1.0}},
             base_config={"steps": STEPS, "sleep": 0.05}, n_trials=8, parallelism=2,
             sampler="random", seed=1)  # fmt: skip
"""8 trials, 2 at once; seed 1 draws three trials far from x = 0.3 after five closer ones,
so the median pruner (after 5 completed trials) must stop at least one."""


def check_study(detail: dict[str, Any]) -> None:
    """A finished 8-trial study of the quadratic: at least one pruned, the best one right."""
    assert detail["status"] == "completed" and len(detail["trials"]) == 8
    states = [t["status"] for t in detail["trials"]]
    assert states.count("pruned") >= 1 and set(states) <= {"completed", "pruned"}, states
    complete = [t for t in detail["trials"] if t["status"] == "completed"]
    closest = min(complete, key=lambda t: abs(t["params"]["x"] - 0.3))
    assert detail["best"]["number"] == closest["number"]
    assert detail["best"]["value"] == pytest.approx(objective(closest["params"]["x"], STEPS))


def test_tune_on_a_real_serve_runs_the_study_and_prints_the_best_trial(
    settings: Settings,
    no_studies: Store,
    quadratic: Path,
    tmp_path: Path,
    serves: list[subprocess.Popen[bytes]],
) -> None:
    port = free_port()
    serves.append(start_serve(settings, port, pythonpath=quadratic))
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    api = f"http://127.0.0.1:{port}"
    result = CliRunner().invoke(app, [
        "tune", "quadratic", "--space", str(space), "--trials", "8", "--parallel", "2",
        "--sampler", "random", "--seed", "1", "--set", f"steps={STEPS}", "--set", "sleep=0.05",
        "--name", "cli-study", "--api-url", api,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    found = re.search(r"study (\d+) \(cli-study\): 8 trials, 2 at once", result.output)
    assert found is not None, result.output
    study_id = found.group(1)
    detail = httpx.get(f"{api}/api/v1/studies/{study_id}", headers=bearer()).json()
    best = detail["best"]
    assert f"best trial {best['number']} (experiment {best['run_id']})" in result.output
    check_study(detail)
    assert set(detail["importances"]) == {"x", "shape"}

    listed = CliRunner().invoke(app, ["studies", "list", "--api-url", api])
    assert listed.exit_code == 0 and "cli-study" in listed.output and "8/8" in listed.output
    shown = CliRunner().invoke(app, ["studies", "show", study_id, "--api-url", api])
    assert shown.exit_code == 0 and "pruned" in shown.output
    refused = CliRunner().invoke(app, ["studies", "cancel", study_id, "--api-url", api])
    assert refused.exit_code == 1 and "already ended as completed" in refused.output


def test_tune_with_a_bad_space_file_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    for text, words in [("x: [1, 2", "is not valid YAML"), ("- x", "must map each setting")]:
        space.write_text(text)
        result = CliRunner().invoke(app, ["tune", "quadratic", "--space", str(space)])
        assert result.exit_code == 2 and words in result.output
        assert len(result.output.strip().splitlines()) == 1
    missing = CliRunner().invoke(app, ["tune", "quadratic", "--space", str(tmp_path / "no")])
    assert missing.exit_code == 2 and "cannot read space file" in missing.output


@pytest.fixture
def celery_workers(
    settings: Settings,
    redis_url: str,  # noqa: F811
    quadratic: Path,
) -> Iterator[Settings]:
    """A Celery worker (two pool processes) on the session's Redis database."""
    on_celery = settings.model_copy(update={"transport": "celery", "broker_url": redis_url})
    env = worker_environment(on_celery, quadratic)
    process = subprocess.Popen([sys.executable, "-c", CELERY_WORKER], env=env)
    yield on_celery
    process.terminate()
    process.wait(30)
    empty_redis(redis_url)


def test_a_study_runs_on_celery_workers(celery_workers: Settings, no_studies: Store) -> None:
    transport = CeleryTransport(celery_workers)
    service = StudyService(no_studies, transport)
    try:
        study = service.create(StudyDefinition(**STUDY))  # type: ignore[arg-type]
        wait_for(lambda: no_studies.get_study(study.id).status == "completed", timeout=90)
        report = service.report(study.id)
    finally:
        service.close()
        transport.close()
    workers = {no_studies.get_experiment(t["run_id"]).worker for t in report.trials}
    assert all(name and name.count(":") == 2 for name in workers)
    check_study({**report.study.__dict__, "trials": report.trials, "best": report.best})


def test_a_trial_whose_worker_was_killed_is_rerun_keeping_its_intermediate_values(
    studies: StudyService, store: Store, database_url: str, tmp_path: Path
) -> None:
    first = WorkerProcess(database_url, tmp_path / "home")
    second: WorkerProcess | None = None
    try:
        definition = StudyDefinition(
            pipeline="quadratic", space={"shape": ["bowl"]}, pruner="none", n_trials=1,
            base_config={"steps": 40, "sleep": 0.05, "jitter": True},
        )  # fmt: skip
        study = studies.create(definition)

        def logged() -> dict[int, float]:
            """The objective by step as the trial's run logged it (no pruner: Optuna gets
            these values when the study advances after the trial)."""
            runs = store.list_trial_runs(study.id)
            points = store.get_metrics(runs[0].id, ["val_loss"]) if runs else {}
            return {step: value for step, value, _ in points.get("val_loss", [])}

        wait_for(lambda: len(logged()) >= 5, timeout=20)
        first.kill()  # the worker and the trial it forked, mid-run
        kept = logged()
        second = WorkerProcess(database_url, tmp_path / "home")
        wait_for(lambda: store.get_study(study.id).status == "completed", timeout=40)
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.kill()
    [trial] = studies.report(study.id).trials
    run = store.get_experiment(trial["run_id"])
    assert (run.status, run.attempts, trial["optuna_state"]) == ("completed", 2, "complete")
    assert sorted(trial["intermediate_values"]) == list(range(1, 41))
    assert {step: trial["intermediate_values"][step] for step in kept} == kept
    # The re-run logged those steps again with other noise; Optuna got the first values.
    rerun = {step: value for step, value, _ in store.get_metrics(run.id)["val_loss"]}
    assert any(rerun[step] != kept[step] for step in kept)
    assert trial["value"] == pytest.approx(objective(0.5, 40), abs=1e-3)
