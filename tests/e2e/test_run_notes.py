"""A run's page: its name edited in place, its notes saved, both followed live, and its
process's system metrics (``system/...``) on charts of their own, apart from its curves (and
not among the run list's columns)."""

from __future__ import annotations

import httpx

from azuraforge.system_metrics import CPU, MEMORY, PROCESS_CPU, PROCESS_RSS, PROCESS_THREADS
from tests.e2e.conftest import Dashboard, chart_points, shoot


def test_rename_a_run_in_place_and_save_its_notes(dashboard: Dashboard, page):
    run_id = dashboard.submit("sleeper", {"steps": 2, "sleep": 0}, name="first try")
    dashboard.submit("sleeper", {"steps": 1}, name="taken")
    dashboard.wait_for(run_id, {"completed"})
    page.goto(f"{dashboard.url}/#/experiments/{run_id}")
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
    page.goto(f"{dashboard.url}/#/experiments/{run_id}")
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
        assert (
            writer.post(f"/experiments/{run_id}/batch", json={"metrics": points}).status_code
            == 200
        )
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
        assert dashboard.api.patch(f"/experiments/{run_id}", json=edited).status_code == 200
        page.wait_for_selector("#run-name:text-is('sampled, renamed')")
        assert page.input_value("#run-notes") == "written elsewhere"
        page.goto(f"{dashboard.url}/#/experiments")
        page.wait_for_selector("#experiments-table[data-query]")
        headers = page.inner_text("#experiments-table thead")
        assert "accuracy" in headers and "system/" not in headers  # not among the columns
        assert (
            writer.post(f"/experiments/{run_id}/end", json={"status": "completed"}).status_code
            == 200
        )
