"""Launch a run from the form and watch it live; the form's errors land on their fields."""

from __future__ import annotations

import re

from tests.e2e.conftest import Dashboard, chart_points, shoot


def progress_of(page) -> int:
    return int(page.get_attribute(".progress.big", "aria-valuenow") or 0)


def test_launch_from_the_form_and_watch_progress_and_loss_move_live(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/launch?pipeline=sleeper")
    page.fill("#field-steps", "60")  # 12 s: a page loading on a busy machine still sees it move
    page.fill("#field-sleep", "0.2")
    shoot(page, "launch")
    page.click("#launch-submit")
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
    page.evaluate("window.notReloaded = true")
    page.wait_for_function("document.querySelector('#loss-chart')?.data?.[0]?.x?.length >= 2")
    first_progress, first_points = progress_of(page), chart_points(page, "#loss-chart")
    page.wait_for_function(
        "([progress, points]) => Number(document.querySelector('.progress.big')"
        ".getAttribute('aria-valuenow')) > progress && document.querySelector('#loss-chart')"
        ".data.reduce((sum, trace) => sum + trace.x.length, 0) > points",
        arg=[first_progress, first_points],
    )  # both move while the page stays as it is
    shoot(page, "run-live")
    page.wait_for_selector(".page-head .badge[data-status=completed]", timeout=30_000)
    assert progress_of(page) == 100
    assert chart_points(page, "#loss-chart") == 2 * 60  # loss and val_loss, every step
    assert page.evaluate("window.notReloaded") is True  # it all came without a reload
    page.wait_for_selector("#report")
    shoot(page, "run-completed")


def test_an_invalid_value_is_shown_next_to_its_field_and_nothing_is_sent(
    dashboard: Dashboard, page
):
    before = dashboard.api.get("/runs").json()["total"]
    page.goto(f"{dashboard.url}/#/launch?pipeline=sleeper")
    page.fill("#field-steps", "0")
    page.fill("#field-sleep", "fast")
    page.click("#launch-submit")
    assert page.inner_text("#error-steps") == "must be ≥ 1, got 0"
    assert page.inner_text("#error-sleep") == 'must be a number, got "fast"'
    assert page.get_attribute("#field-steps", "aria-invalid") == "true"
    shoot(page, "launch-invalid")
    assert dashboard.api.get("/runs").json()["total"] == before


def test_the_apis_refusal_is_shown_on_the_field_it_names(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/launch?pipeline=forecaster")
    page.fill("#field-csv", "../../etc/passwd")
    page.fill("#field-target", "load")
    page.click("#launch-submit")
    page.wait_for_selector(".error-box")
    assert "data folder" in page.inner_text("#error-csv")
    assert page.inner_text("#error-target") == ""
    assert "bad config for forecaster" in page.inner_text(".error-box")


def test_a_grid_launches_a_batch(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/launch?pipeline=sleeper")
    page.check("[data-grid-for=steps]")
    page.fill("#field-steps", "2, 3, 4")
    assert page.inner_text("#launch-submit") == "Launch 3 runs"
    page.click("#launch-submit")
    page.wait_for_url(re.compile(r"#/runs\?batch_id=\w+"))
    page.wait_for_selector("#runs-table tbody tr:nth-child(3)")
    assert page.locator("#runs-table tbody tr").count() == 3
