"""The studies pages: start a study from the form and watch its trials arrive live, cancel it;
bad values shown on their row or field; and a crowded study: 1,500 trials, or with
``--full-scale`` 10,000 trials timed in the browser (``benchmarks/dashboard_pages.py``; the
figures go to ``studies-timings.json`` beside the screenshots)."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from azuraforge.platform.store import Store
from azuraforge.testing.studies import insert_study
from tests.e2e.conftest import (
    NARROW,
    Dashboard,
    chart_points,
    kill_group,
    mark_after,
    shoot,
    start_dashboard,
    timed_steps,
    timings_file,
)

SEEDED = {False: 1_500, True: 10_000}
"""Trials of the crowded study, by ``--full-scale``: 1,500 is past the 1,000 completed trials
that the importances sample."""
BOUND_MS = 3_000
"""At full scale, for the summary and a page of trials. Generous: the aim is about 1 s;
machines are noisy. The charts are only recorded: WebGL on the CPU (no GPU here) takes
seconds."""


def fill_sleeper_study(page, url: str, name: str, trials: int) -> None:
    """The new-study form of a sleeper study searching ``sleep`` over 20-step trials."""
    page.goto(f"{url}/#/studies/new?pipeline=sleeper")
    page.wait_for_selector("#space-row-0")
    assert page.input_value("#space-row-0 [name=setting]") == "sleep"  # a float comes first
    page.uncheck("#space-row-0 [name=log]")
    page.fill("#space-row-0 [name=low]", "0.02")
    page.fill("#space-row-0 [name=high]", "0.05")
    page.fill("#field-steps", "20")
    page.fill("#study-n_trials", str(trials))
    page.select_option("#study-pruner", "none")
    page.fill("#study-name", name)


def test_start_a_study_from_the_form_watch_its_trials_and_cancel_it(dashboard: Dashboard, page):
    fill_sleeper_study(page, dashboard.url, "e2e-live", 40)
    page.fill("#field-steps", "100")  # 40 trials of 3 s or more: still running at Cancel
    shoot(page, "study-new")
    page.click("#study-submit")
    page.wait_for_url(re.compile(r"#/studies/\d+$"))
    study_id = int(page.url.rsplit("/", 1)[1])
    page.evaluate("window.notReloaded = true")
    page.wait_for_selector("#study-trials tbody tr[data-status]")
    page.wait_for_selector("#study-counts [data-status=completed]", timeout=60_000)
    # Two completed trials: two value markers and the best-so-far line's two points.
    page.wait_for_function(
        "(document.querySelector('#study-history')?.data?.[0]?.x?.length || 0) >= 2",
        timeout=60_000,
    )
    assert chart_points(page, "#study-history") >= 4
    assert page.locator("#study-trials tbody tr").count() >= 2
    # The best trial's panel is read apart from the chart: it may follow a moment later.
    page.wait_for_selector("#study-best:has-text('sleep')")
    shoot(page, "study-live")

    page.set_viewport_size(NARROW)
    page.wait_for_function(f"document.documentElement.scrollWidth <= {NARROW['width']}")
    shoot(page, "study-live-narrow")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.click("#study-cancel")
    page.click("dialog button[type=submit]")
    page.wait_for_selector("#study-status .badge[data-status=cancelled]", timeout=30_000)
    assert page.evaluate("window.notReloaded") is True  # it all came without a reload
    assert page.locator("#study-cancel").is_hidden()
    summary = dashboard.api.get(f"/studies/{study_id}/summary").json()
    assert summary["status"] == "cancelled" and summary["counts"].get("completed", 0) >= 2
    shoot(page, "study-cancelled")

    page.goto(f"{dashboard.url}/#/studies")
    row = page.locator(f"#studies-table tr[data-id='{study_id}']")
    row.wait_for()
    assert "cancelled" in row.inner_text() and "/ 40" in row.inner_text()


def test_bad_values_are_shown_on_their_row_or_field_and_nothing_is_sent(
    dashboard: Dashboard, page
):
    before = dashboard.api.get("/studies").json()["total"]
    fill_sleeper_study(page, dashboard.url, "e2e-refused", 3)
    page.fill("#space-row-0 [name=low]", "0.5")
    page.fill("#space-row-0 [name=high]", "0.1")
    page.click("#study-submit")
    assert page.inner_text("#space-row-0 [data-part=high] .field-error") == (
        "must be at least low (0.5), got 0.1"
    )
    assert "Not started" in page.inner_text(".error-box")
    assert dashboard.api.get("/studies").json()["total"] == before

    taken = dashboard.api.post("/studies", json={
        "pipeline": "sleeper", "config": {"steps": 1}, "space": {"sleep": [0.0]},
        "n_trials": 1, "name": "e2e-taken",
    })  # fmt: skip
    assert taken.status_code == 201, taken.text
    page.fill("#space-row-0 [name=low]", "0.01")
    page.fill("#study-name", "e2e-taken")
    page.click("#study-submit")
    page.wait_for_selector("#error-study-name:not(:empty)")
    assert "already exists" in page.inner_text("#error-study-name")
    assert "The API refused the study" in page.inner_text(".error-box")
    shoot(page, "study-refused")


def test_the_studies_and_a_studys_trials_download_as_csv(dashboard: Dashboard, page):
    space = {"sleep": {"type": "float", "low": 0, "high": 0.01}}
    body = {"pipeline": "sleeper", "space": space, "n_trials": 2, "parallelism": 2,
            "config": {"steps": 2}, "name": "e2e-csv"}  # fmt: skip
    made = dashboard.api.post("/studies", json=body).json()
    page.goto(f"{dashboard.url}/#/studies")
    with page.expect_download() as download:
        page.click("#studies-csv")
    studies = list(csv.DictReader(Path(download.value.path()).read_text().splitlines()))
    assert "e2e-csv" in [row["name"] for row in studies]
    page.goto(f"{dashboard.url}/#/studies/{made['id']}")
    page.wait_for_selector("#trials-csv[href*='format=csv']")
    with page.expect_download() as download:
        page.click("#trials-csv")
    trials = list(csv.DictReader(Path(download.value.path()).read_text().splitlines()))
    assert [row["number"] for row in trials] == ["0", "1"]


@pytest.fixture(scope="module")
def crowded_study(sleeper_path: Path, sqlite_template: Path, tmp_path_factory, full_scale: bool):
    """A serve over a store holding a finished study of 1,500 trials (10,000 at full scale);
    its id."""
    home = tmp_path_factory.mktemp("crowded-study")
    database = home / "azuraforge.db"
    shutil.copy(sqlite_template, database)
    store = Store(f"sqlite:///{database}")
    study_id = insert_study(store, SEEDED[full_scale])
    store.close()
    process, served = start_dashboard(home, database, sleeper_path, "--workers", "0")
    yield served, study_id
    served.api.close()
    kill_group(process)


@pytest.mark.slow
def test_a_crowded_study_pages_sorts_and_filters(crowded_study, page, full_scale: bool):
    served, study_id = crowded_study
    seeded = SEEDED[full_scale]
    page.goto(f"{served.url}/#/studies/{study_id}")
    timings = {
        "summary, progress and best trial": mark_after(page, "study:summary", 0.0),
        "first page of 50 trials": mark_after(page, "study:trials", 0.0, ""),
    }
    timings["optimisation history"] = mark_after(page, "study:history", 0.0)
    timings["parallel coordinates"] = mark_after(page, "study:parallel", 0.0)
    timings["importances"] = mark_after(page, "study:importances", 0.0)
    assert page.locator("#study-trials tbody tr").count() == 50
    assert page.get_attribute("#study-trials ~ .pager [data-total]", "data-total") == str(seeded)
    completed = page.evaluate("document.querySelector('#study-history').data[0].x.length")
    assert completed == int(page.get_attribute("#study-counts [data-status=completed]", "data-n"))
    assert "random sample of 1,000" in page.inner_text("#study-importances-note")
    assert f"{seeded:,} of {seeded:,} trials ended" in page.inner_text("#study-progress")
    shoot(page, "study-crowded")

    steps = [
        ("sort by value (header click)", "sort=value",
         lambda: page.click("#study-trials th[title^='Sort by val_loss']")),
        ("filter pruned, sorted by value", "sort=value&status=pruned",
         lambda: page.click("#trial-status-filter .chip[data-status=pruned]")),
        ("next page", "sort=value&status=pruned&offset=50", lambda: page.click("#trials-next")),
    ]  # fmt: skip
    timings.update(timed_steps(page, "study:trials", steps))
    cells = page.locator("#study-trials tbody td:nth-child(3)").all_inner_texts()
    values = [float(value) for value in cells]
    assert values == sorted(values) and len(values) == 50
    shoot(page, "study-crowded-pruned")

    charts = {"optimisation history", "parallel coordinates", "importances"}
    if full_scale:
        timings_file("studies-timings.json", timings)
        assert all(ms < BOUND_MS for label, ms in timings.items() if label not in charts), timings
