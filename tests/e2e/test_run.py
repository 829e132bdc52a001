"""A run's page: cancel a running run, see its logs, files (its report's plots among them)
and scores; a run that stopped early shows complete; the server gone and back; its name
edited in place, its notes saved, both followed live, and its process's system metrics
(``system/...``) on charts of their own, apart from its curves (and not among the run list's
columns), drawn by the seconds since the run started; an ended run without its lease and
heartbeat, its scores marked against each baseline by the metric's better way, with a
legend."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys

import httpx
import pytest

from azuraforge.platform.jobs.local import WORKER_MODULE, settings_environment
from azuraforge.system_metrics import CPU, MEMORY, PROCESS_CPU, PROCESS_RSS, PROCESS_THREADS
from tests.e2e.conftest import (
    FINISHED,
    Dashboard,
    chart_points,
    dashboard_settings,
    kill_group,
    shoot,
    signed_in,
    start_dashboard,
)


def test_cancel_a_running_run_from_its_page(dashboard: Dashboard, page):
    run_id = dashboard.submit("sleeper", {"steps": 400, "sleep": 0.05})
    dashboard.wait_for(run_id, {"running"})
    page.goto(f"{dashboard.url}/#/runs/{run_id}")
    page.wait_for_selector(".page-head .badge[data-status=running]")
    page.click("#cancel-run")
    page.wait_for_selector("dialog[open]")
    shoot(page, "run-cancel-dialog", full_page=False)
    page.click("dialog button[type=submit]")
    page.wait_for_selector(".page-head .badge[data-status=cancelled]", timeout=15_000)
    run = dashboard.run(run_id)
    assert run["status"] == "cancelled"
    assert page.locator("#cancel-run").count() == 0
    page.wait_for_selector("#live-note:text-is('ended cancelled')")
    stopped_at = f"{math.floor(run['progress'] * 100 + 0.5)}%"  # rounded as JavaScript does
    assert stopped_at != "100%" and page.inner_text(".progress.big .pct") == stopped_at
    assert page.inner_text("#progress-message").startswith(f"Stopped at {stopped_at}")


def test_dismissing_the_dialog_does_not_cancel(dashboard: Dashboard, page):
    run_id = dashboard.submit("sleeper", {"steps": 200, "sleep": 0.05})  # 10 s: Cancel is there
    page.goto(f"{dashboard.url}/#/runs/{run_id}")
    page.click("#cancel-run")
    page.click("dialog button[value=cancel]")
    assert page.locator("dialog[open]").count() == 0
    assert dashboard.wait_for(run_id, {"completed", "cancelled"})["status"] == "completed"


def test_a_finished_runs_scores_logs_config_and_files(dashboard: Dashboard, page):
    run_id = dashboard.submit("sleeper", {"steps": 3})
    dashboard.wait_for(run_id, {"completed"})
    page.goto(f"{dashboard.url}/#/runs/{run_id}")
    page.wait_for_selector("#scores")
    assert page.inner_text("#scores tbody tr td:first-child") == "MAE"
    assert "sleeper report" in page.inner_text("#report")
    page.click("[data-tab=logs]")
    page.wait_for_selector("#logs div")
    assert "finished after 3 steps" in page.inner_text("#logs")
    page.click("[data-tab=config]")
    assert "steps" in page.inner_text("#config")
    page.click("[data-tab=files]")
    link = page.locator("#files a", has_text="report.md")
    assert dashboard.api.get(link.get_attribute("href").removeprefix("/api/v1")).status_code == 200


def test_a_runs_former_address_shows_its_page(dashboard: Dashboard, page):
    """``#/experiments/<id>``, a run's address before runs were called runs (a link kept in a
    note, a chat), shows the run; ``#/experiments`` the runs."""
    run_id = dashboard.submit("sleeper", {"steps": 3})
    dashboard.wait_for(run_id, {"completed"})
    page.goto(f"{dashboard.url}/#/experiments/{run_id}")
    page.wait_for_selector(".page-head .badge[data-status=completed]")
    assert page.locator("nav [data-nav=runs].active").count() == 1
    page.goto(f"{dashboard.url}/#/experiments")
    page.wait_for_selector(f"#runs-table tr[data-id='{run_id}']")
    assert page.inner_text("h1") == "Runs"


def test_an_unknown_run_is_a_readable_message(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/runs/999999")
    page.wait_for_selector(".error-box")
    assert "experiment 999999 not found" in page.inner_text(".error-box")


EARLY_STOP = {
    "epochs": 12,
    "patience": 1,
    "learning_rate": 0.02,
    "max_rows": 3000,
    "hidden_size": 16,
}
"""A real weather run that stops early (4 of 12 epochs): its validation loss stops improving."""


def test_a_real_weather_run_that_stopped_early_shows_complete_scores_report_and_plots(
    dashboard: Dashboard, page
):
    run_id = dashboard.submit("weather-forecaster", EARLY_STOP)
    run = dashboard.wait_for(run_id, FINISHED, 180)
    assert run["status"] == "completed" and run["progress"] == 1.0
    training = run["result"]["training"]
    assert "of 12 epochs (early stop" in training and run["progress_message"] != "epoch 12/12"
    page.goto(f"{dashboard.url}/#/runs/{run_id}")
    page.wait_for_selector("#live-note:text-is('ended completed')")  # after the history
    assert page.inner_text(".progress.big .pct") == "100%"
    assert page.inner_text("#progress-message") == f"Complete. {training}"
    page.wait_for_selector("#report img")
    page.wait_for_function(
        "[...document.querySelectorAll('#report img')].every(i => i.complete && i.naturalWidth)"
    )
    captions = page.eval_on_selector_all("#report img", "images => images.map(i => i.alt)")
    assert len(captions) >= 4  # loss curves, actual vs predicted, scatter, errors...
    assert page.inner_text("#scores tbody tr:first-child td:first-child") == "MAE"
    assert "persistence" in page.inner_text("#scores thead")
    assert "Last heartbeat" not in page.inner_text("#run-info")
    page.wait_for_selector("#loss-chart .main-svg")
    shoot(page, "run-weather")
    # Its plots among its files, as the report shows them (they were served, never listed).
    page.click("[data-tab=files]")
    files = page.eval_on_selector_all("#files a", "links => links.map(a => a.textContent)")
    plots = [path for path in files if path.startswith("plots/")]
    assert len(plots) == len(captions) and "report.md" in files
    page.goto(f"{dashboard.url}/#/runs?status=completed")
    listed = page.locator(f"#runs-table tr[data-id='{run_id}'] .progress")
    assert listed.inner_text() == "100%"
    assert listed.get_attribute("title") == f"completed · last report: {run['progress_message']}"


def test_rename_a_run_in_place_and_save_its_notes(dashboard: Dashboard, page):
    run_id = dashboard.submit("sleeper", {"steps": 2, "sleep": 0}, name="first try")
    dashboard.submit("sleeper", {"steps": 1}, name="taken")
    dashboard.wait_for(run_id, {"completed"})
    page.goto(f"{dashboard.url}/#/runs/{run_id}")
    page.click("#run-name:text-is('first try')")
    page.fill("#run-name-input", "lr 0.1 baseline")
    page.press("#run-name-input", "Enter")
    page.wait_for_selector("#run-name:text-is('lr 0.1 baseline')")
    assert dashboard.run(run_id)["name"] == "lr 0.1 baseline"

    page.click("#run-name")
    page.fill("#run-name-input", "not kept")
    page.press("#run-name-input", "Escape")
    page.click("#run-name")
    page.fill("#run-name-input", "taken")
    page.press("#run-name-input", "Enter")
    page.wait_for_selector(".toast:has-text(\"an experiment named 'taken' already exists\")")
    assert page.inner_text("#run-name") == "lr 0.1 baseline"

    notes = "Loss flat after step 2.\nNext: a smaller learning rate."
    page.fill("#run-notes", notes)
    assert page.inner_text("#notes-state") == "not saved"
    shoot(page, "run-name-and-notes")
    page.click("#save-notes")
    page.wait_for_selector("#notes-state:text-is('saved')")
    assert dashboard.run(run_id)["notes"] == notes
    page.reload()
    page.wait_for_selector("#run-name:text-is('lr 0.1 baseline')")
    assert page.input_value("#run-notes") == notes
    assert dashboard.run(run_id)["name"] == "lr 0.1 baseline"


def test_system_metrics_have_their_own_charts_and_edits_show_live(dashboard: Dashboard, page):
    made = dashboard.api.post("/external-runs", json={"pipeline": "my-script", "name": "sampled"})
    assert made.status_code == 201, made.text
    run_id, credential = made.json()["experiment"]["id"], made.json()["credential"]
    writer = httpx.Client(base_url=str(dashboard.api.base_url),
                          headers={"Authorization": f"Bearer {credential}"})  # fmt: skip
    page.goto(f"{dashboard.url}/#/runs/{run_id}")
    page.wait_for_selector("#live-note:text-is('live')")
    assert page.is_visible("#system-card .chart-empty")
    samples = {CPU: 40.0, MEMORY: 2100.0, PROCESS_CPU: 95.0, PROCESS_RSS: 180.0,
               PROCESS_THREADS: 4.0}  # fmt: skip
    points = [{"key": key, "step": step, "value": value + step}
              for step in range(3) for key, value in samples.items()]  # fmt: skip
    points += [
        {"key": "loss", "step": 1, "value": 0.5},
        {"key": "accuracy", "step": 1, "value": 0.7},
    ]
    with writer:
        assert writer.post(f"/runs/{run_id}/batch", json={"metrics": points}).status_code == 200
        page.wait_for_function(
            "() => (document.querySelector('#system-threads-chart')?.data || []).length === 1"
        )
        assert chart_points(page, "#system-usage-chart") == 6  # two percentages, 3 samples
        assert chart_points(page, "#system-memory-chart") == 6  # the machine's and the RSS
        assert chart_points(page, "#system-threads-chart") == 3
        assert chart_points(page, "#loss-chart") == 1
        assert chart_points(page, "#metric-chart") == 1  # accuracy: no system metric there
        shoot(page, "run-system-metrics")
        edited = {"name": "sampled, renamed", "notes": "written elsewhere"}
        assert dashboard.api.patch(f"/runs/{run_id}", json=edited).status_code == 200
        page.wait_for_selector("#run-name:text-is('sampled, renamed')")
        assert page.input_value("#run-notes") == "written elsewhere"
        page.goto(f"{dashboard.url}/#/runs")
        page.wait_for_selector("#runs-table[data-query]")
        headers = page.inner_text("#runs-table thead")
        assert "accuracy" in headers and "system/" not in headers  # not among the columns
        assert writer.post(f"/runs/{run_id}/end", json={"status": "completed"}).status_code == 200


ENDED_SCORES = {
    "MAE": {"model": 2.0, "persistence": 1.0},
    "R2": {"model": 0.9, "persistence": 0.8},
    "Skill vs persistence": {"model": -1.0, "persistence": 0.0},
    "MaxDrawdown": {"model": 0.3, "buy and hold": 0.2},
    "SharpeRatio": {"model": 1.2, "buy and hold": 0.8},
}
"""An ended run's scores: worse than persistence on MAE (lower is better) and skill (a
negative one), better on R2 (higher is better); named as the learn metrics' classes, worse
than buy and hold on MaxDrawdown (lower), better on SharpeRatio (higher)."""


def test_system_samples_by_time_no_lease_once_ended_and_scores_marked_by_their_way(
    dashboard: Dashboard, page
):
    """System samples were drawn by step (0 to 2 for three samples), an ended run showed its
    lease and last heartbeat, and a green ▲ stood by every baseline with no legend."""
    made = dashboard.api.post("/external-runs", json={"pipeline": "my-script", "name": "timed"})
    assert made.status_code == 201, made.text
    run_id, credential = made.json()["experiment"]["id"], made.json()["credential"]
    started = dashboard.run(run_id)["started_at"]
    writer = httpx.Client(base_url=str(dashboard.api.base_url),
                          headers={"Authorization": f"Bearer {credential}"})  # fmt: skip
    page.goto(f"{dashboard.url}/#/runs/{run_id}")
    page.wait_for_selector("#live-note:text-is('live')")
    samples = [{"key": key, "step": step, "value": 10.0 + step, "time": started + 15 * (step + 1)}
               for step in range(3) for key in (CPU, PROCESS_THREADS)]  # fmt: skip
    with writer:
        answer = writer.post(f"/runs/{run_id}/batch", json={"metrics": samples})
        assert answer.status_code == 200, answer.text
        page.wait_for_selector("#run-info td:text-is('Last heartbeat')")  # while it runs
        seconds = page.wait_for_function(
            "() => document.querySelector('#system-usage-chart')?.data?.[0]?.x"
        ).json_value()
        assert seconds == pytest.approx([15, 30, 45])
        x_title = page.text_content("#system-usage-chart .g-xtitle")
        assert x_title == "seconds since the run started"
        shoot(page, "run-system-by-time")
        ended = {"status": "completed", "result": {"metrics": ENDED_SCORES}}
        assert writer.post(f"/runs/{run_id}/end", json=ended).status_code == 200
    page.wait_for_selector("#scores")
    info = page.inner_text("#run-info")
    assert "Last heartbeat" not in info and "Lease" not in info
    rows = page.eval_on_selector_all(
        "#scores tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.dataset.mark || c.textContent.trim()))",
    )
    assert rows == [
        ["MAE", "lower", "2", "worse", "—"],
        ["R2", "higher", "0.9", "better", "—"],
        ["Skill vs persistence", "higher", "-1", "worse", "—"],
        ["MaxDrawdown", "lower", "0.3", "—", "worse"],
        ["SharpeRatio", "higher", "1.2", "—", "better"],
    ]
    worse = page.locator("#scores td[data-mark=worse] span").first
    assert worse.inner_text().strip() == "▼"
    legend = page.inner_text("#scores-legend")
    assert "▲ the model beats that baseline" in legend
    assert "▼ the baseline beats the model" in legend and "lower for errors" in legend
    shoot(page, "run-ended-scores")


def test_a_run_page_shows_the_server_gone_and_catches_up_once_it_is_back(
    sleeper, sqlite_template, tmp_path, serves, page
):
    database = tmp_path / "azuraforge.db"
    shutil.copy(sqlite_template, database)
    first, served = start_dashboard(tmp_path, database, sleeper, "--workers", "0")
    serves.append(first)
    # A worker of its own (not the serve's child): the run goes on while the API is down.
    command = [sys.executable, "-m", WORKER_MODULE]
    env = settings_environment(dashboard_settings(tmp_path, database))
    serves.append(subprocess.Popen(command, env=env, start_new_session=True))
    run_id = served.submit("sleeper", {"steps": 2000, "sleep": 0.05})  # outlasts the restart
    served.api.close()
    streams: list[str] = []
    page.on("websocket", lambda socket: streams.append(socket.url))
    signed_in(page).goto(f"{served.url}/#/runs/{run_id}")
    page.wait_for_selector(".page-head .badge[data-status=running]")
    page.wait_for_selector("#health:text-matches('^ok')")
    assert page.inner_text("#live-note") == "live"
    kill_group(first)
    page.wait_for_selector("#live-note:text-is('disconnected — retrying')", timeout=5_000)
    page.wait_for_selector("#health:text-is('server unreachable — retrying')", timeout=5_000)
    shoot(page, "run-disconnected", full_page=False)
    shown_then = int(page.get_attribute(".progress.big", "aria-valuenow"))
    second, _ = start_dashboard(tmp_path, database, sleeper, "--workers", "0", port=served.port)
    serves.append(second)
    page.wait_for_selector("#live-note:text-is('live (reconnected)')", timeout=10_000)
    page.wait_for_selector("#health:text-matches('^ok')")
    page.wait_for_function(
        "(then) => Number(document.querySelector('.progress.big').ariaValueNow) > then",
        arg=shown_then,
    )
    steps = page.wait_for_function(  # Plotly's first load is slow on a busy machine
        "() => document.querySelector('#loss-chart').data?.find(t => t.name === 'loss')?.x",
        timeout=60_000,
    ).json_value()
    assert steps == list(range(1, len(steps) + 1))  # no gap where the page was disconnected
    # The stream resumed after the last event the page got (not a new history): what came
    # meanwhile arrived as messages, each once (a duplicate step would break the range above).
    run_streams = [url for url in streams if f"/runs/{run_id}/events" in url]
    assert "after=" not in run_streams[0] and re.search(r"[?&]after=[1-9]", run_streams[-1])
