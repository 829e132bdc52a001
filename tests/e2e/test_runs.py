"""The experiments page: live status, filters, sorting, paging, bulk actions, and a crowded
store: 10,100 runs (past the 10,000 the server counts), or with ``--full-scale`` 100,000 runs
timed in the browser (``benchmarks/dashboard_pages.py``; the figures go to
``experiments-timings.json`` beside the screenshots)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import httpx
import pytest

from azuraforge.platform.store import Store
from azuraforge.testing.runs import FinishedRun, insert_runs
from tests.e2e.conftest import (
    FINISHED,
    Dashboard,
    kill_group,
    mark_after,
    shoot,
    start_dashboard,
    timed_steps,
    timings_file,
)

SEEDED = {False: 10_100, True: 100_000}
"""Runs in the crowded store, by ``--full-scale``."""
BOUND_MS = 3_000
"""At full scale. Generous: the aim is under 1 s a page; shared machines are noisy."""
RENDERED = "runs:rendered"
"""The page's mark once it drew a page of runs (detail: the page's query)."""


def test_runs_appear_and_finish_live_and_bulk_cancel(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/runs")
    page.wait_for_selector("#runs-table[data-query]")
    page.evaluate("window.notReloaded = true")
    quick = dashboard.submit("sleeper", {"steps": 5, "sleep": 0.05})
    slow = [dashboard.submit("sleeper", {"steps": 500, "sleep": 0.05}) for _ in range(2)]
    page.wait_for_selector(f"tr[data-id='{quick}'] .badge[data-status=completed]")
    for run_id in slow:
        page.wait_for_selector(f"tr[data-id='{run_id}']")
    page.check(f"tr[data-id='{slow[0]}'] input[type=checkbox]")
    page.check(f"tr[data-id='{slow[1]}'] input[type=checkbox]")
    shoot(page, "experiments")
    page.click("#cancel-selected")
    page.click("dialog button[type=submit]")
    for run_id in slow:
        page.wait_for_selector(f"tr[data-id='{run_id}'] .badge[data-status=cancelled]")
    assert page.evaluate("window.notReloaded") is True
    assert {dashboard.run(i)["status"] for i in slow} == {"cancelled"}


def test_select_several_and_compare(dashboard: Dashboard, page):
    ids = [dashboard.submit("sleeper", {"steps": n}) for n in (2, 3)]
    for run_id in ids:
        dashboard.wait_for(run_id, FINISHED)
    page.goto(f"{dashboard.url}/#/runs?pipeline=sleeper")
    for run_id in ids:
        page.check(f"tr[data-id='{run_id}'] input[type=checkbox]")
    page.click("#compare-selected")
    page.wait_for_function(f"location.hash === '#/compare?experiments={ids[0]},{ids[1]}'")
    page.wait_for_selector("#compare-table")


def test_a_bad_filter_is_explained_and_the_listing_stays(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/runs")
    page.wait_for_selector("#runs-table[data-query]")
    page.fill("[aria-label='Metric at least']", "lots")
    page.press("[aria-label='Metric at least']", "Enter")
    page.fill("[aria-label='Metric to filter on']", "loss")
    page.press("[aria-label='Metric to filter on']", "Tab")
    page.wait_for_selector(".error-box")
    assert 'must be a number, got "lots"' in page.inner_text(".error-box")
    assert page.locator("#runs-table table").count() == 1


def test_an_mlflow_experiment_is_a_group_the_list_shows_filters_and_links(
    dashboard: Dashboard, page
):
    address, token = f"{dashboard.url}/api/2.0/mlflow", dashboard.api.headers
    with httpx.Client(base_url=address, headers=token) as mlflow:  # as MLflow's client calls
        made = mlflow.post("/experiments/create", json={"name": "e2e-group"}).json()
        body = {"experiment_id": made["experiment_id"], "run_name": "grouped"}
        run_id = int(mlflow.post("/runs/create", json=body).json()["run"]["info"]["run_id"])
    # The page signed in at /#/runs may have read its list before the run was made
    # (going there again draws nothing anew): the run comes in live, by its event or, made
    # before the page's stream opened, by the list read again once it is open.
    page.goto(f"{dashboard.url}/#/runs")
    page.click(f"tr[data-id='{run_id}'] td.group button")  # its MLflow experiment, not "mlflow"
    page.wait_for_selector("#runs-table[data-query*='group=e2e-group']")
    ids = page.eval_on_selector_all(
        "#runs-table tbody tr[data-id]", "r => r.map(e => e.dataset.id)"
    )
    assert ids == [str(run_id)] and page.input_value("#group-filter") == "e2e-group"
    page.goto(f"{dashboard.url}/#/experiments/{made['experiment_id']}/runs/{run_id}")
    page.wait_for_selector("#run-name:text-is('grouped')")  # the link MLflow's client prints


def seeded_runs(count: int) -> list[FinishedRun]:
    rng = random.Random(13)
    pipelines = ["weather-forecaster", "stock-predictor", "digit-classifier"]
    return [
        FinishedRun(
            f"run-{i:06d}",
            {"epochs": rng.randint(5, 50), "lr": round(10 ** rng.uniform(-4, -1), 6)},
            {"loss": rng.random(), "val_loss": rng.random(), "accuracy": rng.random()},
            pipeline=pipelines[i % 3],
            status="failed" if i % 17 == 0 else "completed",
            step=9,
        )
        for i in range(count)
    ]


def shown_losses(page) -> list[float]:
    """The last losses of the runs the experiments table shows, top to bottom."""
    cells = page.locator("#runs-table tbody tr td:nth-child(10)").all_inner_texts()
    return [float(text) for text in cells]


@pytest.fixture(scope="module")
def crowded(sleeper_path: Path, sqlite_template: Path, tmp_path_factory, full_scale: bool):
    """A serve over a store holding 10,100 finished runs (100,000 at full scale)."""
    home = tmp_path_factory.mktemp("crowded")
    database = home / "azuraforge.db"
    shutil.copy(sqlite_template, database)
    store = Store(f"sqlite:///{database}")
    insert_runs(store, seeded_runs(SEEDED[full_scale]))
    store.close()
    process, served = start_dashboard(home, database, sleeper_path, "--workers", "0")
    yield served
    served.api.close()
    kill_group(process)


@pytest.mark.slow
def test_a_crowded_store_pages_sorts_and_filters(crowded: Dashboard, page, full_scale: bool):
    page.goto(f"{crowded.url}/#/runs")
    timings = {"first page (navigation to rendered table)": mark_after(page, RENDERED, 0.0, "")}
    assert page.locator("#runs-table tbody tr").count() == 50
    assert page.get_attribute("[data-total]", "data-total") == "10000"  # counted up to 10k
    assert "of 10,000+" in page.inner_text(".pager")
    shoot(page, "experiments-crowded")

    steps = [
        ("sort by loss (header click)", "sort=metric%3Aloss&order=asc",
         lambda: page.click("th[title='Sort by the last loss']")),
        ("filter failed, sorted by loss", "status=failed&sort=metric%3Aloss&order=asc",
         lambda: page.click(".chip[data-status=failed]")),
        ("metric range val_loss < 0.1, sorted by loss",
         "status=failed&metric=val_loss&metric_max=0.1&sort=metric%3Aloss&order=asc",
         lambda: (page.fill("[aria-label='Metric to filter on']", "val_loss"),
                  page.fill("[aria-label='Metric at most']", "0.1"),
                  page.press("[aria-label='Metric at most']", "Enter"))),
        ("next page", "status=failed&metric=val_loss&metric_max=0.1&sort=metric%3Aloss"
         "&order=asc&offset=50", lambda: page.click("#page-next")),
    ]  # fmt: skip
    seeded = seeded_runs(SEEDED[full_scale])
    matching = [r for r in seeded if r.status == "failed" and r.metrics["val_loss"] <= 0.1]
    timings.update(timed_steps(page, RENDERED, steps[:-1]))
    first = shown_losses(page)
    assert first == sorted(first) and len(first) == 50
    timings.update(timed_steps(page, RENDERED, steps[-1:]))
    losses = shown_losses(page)
    assert losses == sorted(losses) and len(losses) == min(50, len(matching) - 50)
    shoot(page, "experiments-crowded-filtered")

    # Past the 10,000 runs the server counts, paging goes on while pages come back full.
    page.goto(f"{crowded.url}/#/runs?offset=9950")
    mark_after(page, RENDERED, 0.0, "offset=9950")
    page.click("#page-next")
    mark_after(page, RENDERED, 0.0, "offset=10000")
    assert page.locator("#runs-table tbody tr").count() == 50
    assert "10,001\u201310,050 of 10,000+" in page.inner_text(".pager")  # an en dash

    if full_scale:
        timings_file("experiments-timings.json", timings)
        assert all(ms < BOUND_MS for ms in timings.values()), timings
