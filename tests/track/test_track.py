"""``azuraforge.track`` against a real API (served by uvicorn in a thread of the test process,
on a port of its own so that it can be stopped and served again): points arrive in order, a
server stopped mid-run loses no point and takes none twice, an exception ends the run failed,
a ``kill -9`` of a tracked script ends its run lost; without a server, the embedded store;
and importing the package imports nothing heavy."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from azuraforge import track
from azuraforge.errors import InvalidParameterError
from azuraforge.platform.store import Store
from tests.track.conftest import FAST, Api, steps, wait_for


def test_points_arrive_in_order_with_params_tags_notes_and_files(api: Api, tmp_path: Path) -> None:
    plot = tmp_path / "plot.txt"
    plot.write_text("a plot")
    with api.serve():
        with track.start_run(
            name="ordered",
            experiment="my-script",
            tags={"team": "a"},
            params={"lr": 0.1},
            url=api.url,
            token=api.token,
            **FAST,
        ) as run:
            for step in range(3000):
                run.log_metrics({"loss": 1 / (step + 1), "acc": step / 3000}, step=step)
            run.progress(2999, 3000, "step 2999")
            run.log_params({"late": 3})
            run.set_tags({"stage": "try"})
            run.note("first try")
            run.note("lr 0.1 is too high")
            run.log_artifact(str(plot))
            run.log_metrics({"loss": float("nan")}, step=3000)  # not sent, said once
            run.log_scores({"MAE": {"model": 0.5, "persistence": 0.75}})
            run.log_scores({"MAE": {"model": 0.25}, "R2": 0.9})  # added, model replaced
            with pytest.raises(InvalidParameterError, match=r"scores\.MAE\.model must be a "):
                run.log_scores({"MAE": {"model": "0.2"}})
            with pytest.raises(InvalidParameterError, match="must be a finite number"):
                run.log_scores({"R2": float("inf")})
            with pytest.raises(InvalidParameterError, match=r"done \(4\) is above total \(3\)"):
                run.progress(4, 3)
            with pytest.raises(InvalidParameterError, match="total must be a whole number"):
                run.progress(1, 2.5)  # type: ignore[arg-type]
        record = api.store.get_experiment(run.id)  # type: ignore[arg-type]
    assert steps(api.store, run.id) == list(range(3000))
    assert (record.status, record.pipeline, record.name) == ("completed", "my-script", "ordered")
    assert record.config == {"lr": 0.1}
    assert api.store.get_run_tags(record.id) == {"team": "a", "stage": "try"}
    assert record.result == {
        "metrics": {"MAE": {"model": 0.25, "persistence": 0.75}, "R2": 0.9},
        "params": {"late": "3"},
    }
    assert record.scores == {"metrics.MAE.model": 0.25, "metrics.MAE.persistence": 0.75,
                             "metrics.R2": 0.9}  # fmt: skip
    assert record.notes == "first try\nlr 0.1 is too high"
    assert (record.progress, record.progress_message) == (1.0, "step 2999")  # completed: 1
    assert [a.path for a in api.store.list_artifacts(record.id)] == ["plot.txt"]
    assert not any((tmp_path / "client" / "spool").iterdir())  # nothing left behind


def test_an_exception_ends_the_run_failed_and_goes_on(api: Api) -> None:
    with (
        api.serve(),
        pytest.raises(ValueError, match="loss is nan"),
        track.start_run(url=api.url, token=api.token, **FAST) as run,
    ):
        run.log_metrics({"loss": 1.0})
        raise ValueError("loss is nan")
    record = api.store.get_experiment(run.id)  # type: ignore[arg-type]
    assert (record.status, record.error) == ("failed", "ValueError: loss is nan")
    assert steps(api.store, run.id) == [0]


def test_a_server_stopped_mid_run_loses_no_point_and_takes_none_twice(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="azuraforge.track")
    with api.serve():
        run = track.start_run(url=api.url, token=api.token, idle_limit=60, **FAST)
        for step in range(100):
            run.log_metrics({"loss": float(step)}, step=step)
        wait_for(lambda: len(steps(api.store, run.id)) == 100)
    for step in range(100, 200):  # the server is away: nothing raises, nothing waits
        run.log_metrics({"loss": float(step)}, step=step)
        time.sleep(0.005)
    time.sleep(0.5)  # the sender tries, and keeps the batches in the spool
    assert len(steps(api.store, run.id)) == 100
    with api.serve():
        for step in range(200, 300):
            run.log_metrics({"loss": float(step)}, step=step)
        run.end()
    assert steps(api.store, run.id) == list(range(300))
    assert api.store.get_experiment(run.id).status == "completed"  # type: ignore[arg-type]
    said = [r.getMessage() for r in caplog.records if r.name == "azuraforge.track"]
    assert len(said) == 2, said
    assert "does not answer" in said[0] and "training goes on" in said[0]
    assert said[1].startswith("tracking: back:")


def test_a_run_started_while_the_server_is_away_is_made_when_it_answers(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="azuraforge.track")
    run = track.start_run(name="late", url=api.url, token=api.token, **FAST)
    for step in range(50):
        run.log_metrics({"loss": float(step)}, step=step)
    time.sleep(0.3)
    assert run.id is None
    with api.serve():
        run.end()
    assert steps(api.store, run.id) == list(range(50))
    record = api.store.get_experiment(run.id)  # type: ignore[arg-type]
    assert (record.name, record.status) == ("late", "completed")
    said = [r.getMessage() for r in caplog.records if r.name == "azuraforge.track"]
    assert len(said) == 2 and said[1].startswith("tracking: back:"), said


def test_a_run_ended_elsewhere_takes_no_more_and_the_loop_never_hears_of_it(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="azuraforge.track")
    with api.serve():
        with track.start_run(url=api.url, token=api.token, **FAST) as run:
            run.log_metrics({"loss": 1.0}, step=0)
            wait_for(lambda: steps(api.store, run.id) == [0])
            api.store.end_external(run.id, "cancelled")  # type: ignore[arg-type]
            for step in range(1, 50):
                run.log_metrics({"loss": 1.0}, step=step)
                time.sleep(0.01)
        assert steps(api.store, run.id) == [0]
    said = [r.getMessage() for r in caplog.records if r.name == "azuraforge.track"]
    assert len(said) == 1 and "takes no more writes" in said[0], said
    assert "already ended as cancelled" in said[0]


def test_a_token_the_server_refuses_is_said_once_and_never_raised(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="azuraforge.track")
    with api.serve(), track.start_run(url=api.url, token="af_made_up", **FAST) as run:
        for step in range(20):
            run.log_metrics({"loss": 1.0}, step=step)
    assert run.id is None
    said = [r.getMessage() for r in caplog.records if r.name == "azuraforge.track"]
    assert len(said) == 1 and "did not make the run (CredentialError" in said[0], said


def test_a_killed_script_s_run_ends_lost(api: Api, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import time\nfrom azuraforge import track\n"
        "run = track.start_run(idle_limit=1, flush_interval=0.1)\n"
        "run.log_metrics({'loss': 1.0}, step=0)\n"
        "print(run.id, flush=True)\n"
        "while True:\n    time.sleep(0.1)\n"
    )
    env = {**os.environ, "AZURAFORGE_API_URL": api.url, "AZURAFORGE_TOKEN": api.token,
           "AZURAFORGE_HOME": str(tmp_path / "client")}  # fmt: skip
    with api.serve():
        process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                                   env=env)  # fmt: skip
        try:
            assert process.stdout is not None
            run = int(process.stdout.readline())
            assert api.store.get_experiment(run).pipeline == "train"
            time.sleep(1.5)  # past its idle limit: its heartbeat keeps it alive
            assert run not in [found for found, _ in api.store.reap_expired()]
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            time.sleep(1.2)
            assert (run, "lost") in api.store.reap_expired()
        finally:
            process.kill()
            process.wait()
    assert "its writer sent no word" in (api.store.get_experiment(run).error or "")
    assert steps(api.store, run) == [0]


def test_a_run_left_open_ends_at_exit_failed_with_what_ended_the_program(
    api: Api, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "from azuraforge import track\n"
        "run = track.start_run(flush_interval=0.1)\n"
        "print(run.id, flush=True)\n"
        "run.log_metrics({'loss': 1.0}, step=0)\n"
        "raise RuntimeError('diverged')\n"
    )
    env = {**os.environ, "AZURAFORGE_API_URL": api.url, "AZURAFORGE_TOKEN": api.token,
           "AZURAFORGE_HOME": str(tmp_path / "client")}  # fmt: skip
    with api.serve():
        ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             env=env, timeout=60)  # fmt: skip
    assert ran.returncode == 1 and "RuntimeError: diverged" in ran.stderr
    record = api.store.get_experiment(int(ran.stdout))
    assert (record.status, record.error) == ("failed", "RuntimeError: diverged")
    assert steps(api.store, record.id) == [0]


def test_without_a_server_the_run_goes_into_the_embedded_store(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(sqlite_template, tmp_path / "embedded.db")
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", url)
    monkeypatch.setenv("AZURAFORGE_API_URL", "http://127.0.0.1:9")  # no token for it
    with track.start_run(name="offline", params={"lr": 0.5}, tags={"where": "laptop"},
                         **FAST) as run:  # fmt: skip
        for step in range(50):
            run.log_metrics({"loss": float(step)}, step=step)
            run.progress(step + 1, 50, f"epoch {step + 1}")
        run.note("on the train")
    store = Store(url)
    try:
        record = store.get_experiment(run.id)  # type: ignore[arg-type]
        assert (record.status, record.kind, record.config) == ("completed", "external",
                                                               {"lr": 0.5})  # fmt: skip
        assert steps(store, run.id) == list(range(50))
        assert store.get_run_tags(record.id) == {"where": "laptop"}
        assert record.notes == "on the train"
        assert (record.progress, record.progress_message) == (1.0, "epoch 50")
    finally:
        store.close()


def test_importing_track_imports_nothing_heavy() -> None:
    heavy = ("numpy", "httpx", "typer", "sqlalchemy", "pydantic", "azuraforge.platform",
             "azuraforge.client")  # fmt: skip
    code = (
        f"import sys, azuraforge.track\nprint([m for m in sys.modules if m.startswith({heavy!r})])"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)  # fmt: skip
    assert found.stdout.strip() == "[]"
