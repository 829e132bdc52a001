"""Spools left behind: a tracked script killed (``SIGKILL``) while the server was away leaves
its batches in ``$AZURAFORGE_HOME/spool``; the next ``track.start_run`` of that home sends
them, once and in order, in the background. ``azuraforge track flush`` sends them at once:
a run whose process meant to end it is ended so, a run never made is made, and a run the
server ended ``lost`` meanwhile refuses them (its spool removed, said); while the server is
away each is kept (exit 1). The second test runs the three in one server's restart (3 s).
An embedded run's spool goes into its own store, never another."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azuraforge import track
from azuraforge.cli.main import app
from azuraforge.client import Client
from azuraforge.platform.services.external_runs import start_external_run
from azuraforge.platform.store import DEFAULT_PROJECT, Store
from azuraforge.track.spool import Batch, Spool, spool_root
from tests.track.conftest import FAST, Api, steps, wait_for

SCRIPT = """
import sys, time
from azuraforge import track
run = track.start_run(name="killed", idle_limit=60, flush_interval=0.1)
run.log_metrics({"loss": 0.0}, step=0)
while run.id is None:
    time.sleep(0.02)
print(run.id, flush=True)
sys.stdin.readline()  # the server is stopped now
for step in range(1, 100):
    run.log_metrics({"loss": float(step)}, step=step)
    if step % 25 == 0:
        time.sleep(0.15)  # a batch each
time.sleep(0.3)
print("spooled", flush=True)
time.sleep(60)
"""


def batches(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.json"))


def test_a_killed_script_s_spool_is_sent_by_the_next_run(
    api: Api, client_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="azuraforge.track")
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "AZURAFORGE_API_URL": api.url, "AZURAFORGE_TOKEN": api.token,
           "AZURAFORGE_HOME": str(client_home)}  # fmt: skip
    process = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env=env, text=True)  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    try:
        with api.serve():
            run = int(process.stdout.readline())
            wait_for(lambda: steps(api.store, run) == [0])
        process.stdin.write("\n")
        process.stdin.flush()
        assert process.stdout.readline() == "spooled\n"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        process.kill()
        process.wait()
    spool = client_home / "spool"
    left = batches(spool)
    assert len(left) >= 2  # steps 1 to 99, in the batches the killed sender made
    first = json.loads(left[0].read_text())
    with api.serve():
        with Client(api.url, token=api.token) as client:  # one went before the kill, its
            client.session.request("POST", f"/runs/{run}/batch", json={  # answer lost
                "batch_id": first["batch_id"],
                "metrics": [{"key": k, "step": s, "value": v} for k, s, v, _ in first["points"]],
            })  # fmt: skip
        with track.start_run(name="next", url=api.url, token=api.token, **FAST):
            wait_for(lambda: not left[0].parent.exists())
    assert steps(api.store, run) == list(range(100))  # each point once
    assert api.store.get_experiment(run).status == "running"  # the server ends it lost
    said = [r.getMessage() for r in caplog.records if "left behind" in r.getMessage()]
    assert said == [
        f"tracking: a spool left behind: run {run} ({api.url}): {len(left)} batches sent from "
        f"{left[0].parent}"
    ]
    assert not batches(spool)


def test_track_flush_ends_runs_as_meant_makes_a_run_and_a_lost_run_refuses(
    api: Api, client_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ends = {"flush_interval": 0.1, "end_timeout": 0.0}  # the end does not wait: left behind
    with api.serve():
        meant = track.start_run(name="meant", url=api.url, token=api.token, idle_limit=60, **ends)
        lost = track.start_run(name="lost", url=api.url, token=api.token, idle_limit=1, **ends)
        wait_for(lambda: None not in (meant.id, lost.id))
    meant_id, lost_id = int(meant.id or 0), int(lost.id or 0)
    never = track.start_run(name="never", url=api.url, token=api.token, **ends)
    for run in (meant, lost, never):
        for step in range(10):
            run.log_metrics({"loss": float(step)}, step=step)
    for run in (meant, lost):
        run.end()
    never.end("failed", "ValueError: loss is nan")
    time.sleep(1.1)  # past the idle limit of lost
    assert (lost_id, "lost") in api.store.reap_expired()
    runner = CliRunner()
    monkeypatch.setenv("AZURAFORGE_TOKEN", api.token)  # makes the run never made
    away = runner.invoke(app, ["track", "flush"])
    assert away.exit_code == 1, away.output  # the server away: each kept, for later
    assert away.output.count("kept in") == away.output.count("does not answer; sent later") == 3
    with api.serve():
        done = runner.invoke(app, ["track", "flush"])
        again = runner.invoke(app, ["track", "flush"])
    assert done.exit_code == 0, done.output
    made = api.store.find_experiment_id("never")
    assert made is not None
    said = {int(line.split()[1]): line for line in done.output.splitlines()}  # run: its line
    assert sorted(said) == sorted([meant_id, lost_id, made]), said
    assert re.fullmatch(rf"run {meant_id} \({api.url}\): \d batch(es)? sent from \S+, the run "
                        "ended completed", said[meant_id])  # fmt: skip
    assert re.fullmatch(rf"run {lost_id} \({api.url}\) takes no more writes \(CredentialError: "
                        rf"the credential of run {lost_id} expired: .*\): \d batch(es)? of \S+ "
                        "not written; the spool is removed", said[lost_id])  # fmt: skip
    assert re.fullmatch(rf"run {made} \({api.url}\): \d batch(es)? sent from \S+, the run ended "
                        "failed", said[made])  # fmt: skip
    assert (api.store.get_experiment(meant_id).status, steps(api.store, meant_id)) == (
        "completed", list(range(10))
    )  # fmt: skip
    record = api.store.get_experiment(made)
    assert (record.status, record.error, steps(api.store, made)) == (
        "failed", "ValueError: loss is nan", list(range(10))
    )  # fmt: skip
    assert steps(api.store, lost_id) == []
    assert again.exit_code == 0 and "no spool left behind in" in again.output
    assert not any((client_home / "spool").iterdir())


def test_track_flush_sends_an_embedded_run_s_spool_into_its_own_store_alone(
    tmp_path: Path, sqlite_template: Path, client_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(sqlite_template, tmp_path / "embedded.db")
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", url)
    store = Store(url)
    try:
        record, _ = start_external_run(store, "offline", {}, idle_limit=60,
                                       project=DEFAULT_PROJECT, submitter=None)  # fmt: skip
        spool = Spool(spool_root(), "left-by-a-killed-embedded-run")
        spool.open(
            {
                "format": 1,
                "sink": {"kind": "store", "store": store.shown_url},
                "created": ["offline", {}, None, 60],
                "run": record.id,
                "idle_limit": 60,
            }
        )
        for first in (0, 5):  # as its sender kept them, the store away
            points = [("loss", step, float(step), time.time()) for step in range(first, first + 5)]
            spool.put(Batch(f"b-{first}", points))
        spool.close()  # its process is gone
        monkeypatch.setenv("AZURAFORGE_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
        elsewhere = CliRunner().invoke(app, ["track", "flush"])
        monkeypatch.setenv("AZURAFORGE_DATABASE_URL", url)
        done = CliRunner().invoke(app, ["track", "flush"])
        assert steps(store, record.id) == list(range(10))
        assert store.get_experiment(record.id).status == "running"  # its end: the reaper's
    finally:
        store.close()
    assert elsewhere.exit_code == 1 and "written to another store than" in elsewhere.output
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"run {record.id} (")
    assert "2 batches sent from" in done.output and not spool.folder.exists()
