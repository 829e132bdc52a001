"""A run's page: cancel a running run, see its logs, files and scores."""

from __future__ import annotations

from tests.e2e.conftest import FINISHED, Dashboard, shoot


def test_cancel_a_running_run_from_its_page(dashboard: Dashboard, page):
    run_id = dashboard.submit("sleeper", {"steps": 400, "sleep": 0.05})
    dashboard.wait_for(run_id, {"running"})
    page.goto(f"{dashboard.url}/#/experiments/{run_id}")
    page.wait_for_selector(".page-head .badge[data-status=running]")
    page.click("#cancel-run")
    page.wait_for_selector("dialog[open]")
    shoot(page, "run-cancel-dialog", full_page=False)
    page.click("dialog button[type=submit]")
    page.wait_for_selector(".page-head .badge[data-status=cancelled]", timeout=15_000)
    assert dashboard.run(run_id)["status"] == "cancelled"
    assert page.locator("#cancel-run").count() == 0
    assert page.inner_text("#live-note") == "ended cancelled"


def test_dismissing_the_dialog_does_not_cancel(dashboard: Dashboard, page):
    run_id = dashboard.submit("sleeper", {"steps": 100, "sleep": 0.05})
    page.goto(f"{dashboard.url}/#/experiments/{run_id}")
    page.click("#cancel-run")
    page.click("dialog button[value=cancel]")
    assert page.locator("dialog[open]").count() == 0
    assert dashboard.wait_for(run_id, {"completed", "cancelled"})["status"] == "completed"


def test_a_finished_runs_scores_logs_config_and_files(dashboard: Dashboard, page):
    run_id = dashboard.submit("sleeper", {"steps": 3})
    dashboard.wait_for(run_id, {"completed"})
    page.goto(f"{dashboard.url}/#/experiments/{run_id}")
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


def test_an_unknown_run_is_a_readable_message(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/experiments/999999")
    page.wait_for_selector(".error-box")
    assert "experiment 999999 not found" in page.inner_text(".error-box")


def test_a_real_weather_runs_page_shows_its_scores_report_and_plots(dashboard: Dashboard, page):
    run_id = dashboard.submit(
        "weather-forecaster", {"epochs": 2, "max_rows": 3000, "hidden_size": 16}
    )
    assert dashboard.wait_for(run_id, FINISHED, 180)["status"] == "completed"
    page.goto(f"{dashboard.url}/#/experiments/{run_id}")
    page.wait_for_selector("#report img")
    page.wait_for_function(
        "[...document.querySelectorAll('#report img')].every(i => i.complete && i.naturalWidth)"
    )
    captions = page.eval_on_selector_all("#report img", "images => images.map(i => i.alt)")
    assert len(captions) >= 4  # loss curves, actual vs predicted, scatter, errors...
    assert page.inner_text("#scores tbody tr:first-child td:first-child") == "MAE"
    assert "persistence" in page.inner_text("#scores thead")
    page.wait_for_selector("#loss-chart .main-svg")
    shoot(page, "run-weather")
