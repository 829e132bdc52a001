"""The models pages: register a model from two real weather runs, set an alias, move it, roll
it back, predict from real rows of the Beijing file and see the forecast drawn against its
history; a prediction job cancelled while queued, another completed with its first rows and
its file; readable messages for bad rows and an unknown model; a version beyond the first
page of 50 named in the alias form and the predict panel; names in the chart shown as
written; metric marks by ui.metricDirection; rows cut to the API's limit in UTF-8 bytes; an
adapter of the assistant's expert shown with its examples and the promotion gate's verdict,
and no Predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from azuraforge.assist.adapters.registry import ADAPTER_PIPELINE
from azuraforge.assist.promotion import decide
from azuraforge.learn.datasets import fetch
from azuraforge.platform.store import Store
from tests.e2e.conftest import NARROW, Dashboard, chart_points, shoot
from tests.platform.registry.conftest import mirror

__all__ = ["mirror"]  # the registry tests' data mirror: the served workers read the real file
pytestmark = pytest.mark.slow

TINY = {"epochs": 1, "max_rows": 600, "hidden_size": 4, "sequence_length": 8, "horizon": 3}
"""A weather model trained in about a second (the two runs differ by their seed)."""
SENT = 40
OTHER = "forecasts"
"""The model of the tests after the first (which registers ``weather`` through the page)."""


@pytest.fixture(scope="module")
def weather_runs(mirror: None, dashboard: Dashboard) -> list[int]:
    """Two completed tiny weather runs of the served workers."""
    ids = [dashboard.submit("weather-forecaster", {**TINY, "seed": seed}) for seed in (0, 1)]
    for run_id in ids:
        assert dashboard.wait_for(run_id, {"completed", "failed"}, 120)["status"] == "completed"
    return ids


@pytest.fixture(scope="module")
def beijing_csv(mirror: None) -> str:
    """The real file's header and SENT rows from its 2,000th, as a person would paste them."""
    lines = fetch("beijing-hourly")["beijing_hourly_2010_2014.csv"].read_text().splitlines()
    return "\n".join([lines[0], *lines[2000 : 2000 + SENT]])


def alias_version(dashboard: Dashboard, alias: str) -> int:
    answer = dashboard.api.get(f"/models/weather/aliases/{alias}")
    answer.raise_for_status()
    return int(answer.json()["version"])


def set_alias(page: Any, alias: str, version: int, reason: str) -> None:
    page.fill("#alias-form input[name=alias]", alias)
    page.fill("#alias-form input[name=version]", str(version))
    page.fill("#alias-form input[name=reason]", reason)
    page.click("#alias-form button[type=submit]")


def test_register_alias_roll_back_and_predict(
    dashboard: Dashboard, page, weather_runs: list[int], beijing_csv: str
):
    page.goto(f"{dashboard.url}/#/models")
    page.click("#create-model")
    page.fill("dialog[open] input[name=name]", "weather")
    page.fill("dialog[open] textarea[name=description]", "Beijing temperature, 3 h ahead")
    page.click("dialog[open] button[type=submit]")
    page.wait_for_function("location.hash === '#/models/weather'")
    for number, run_id in enumerate(weather_runs, start=1):
        page.fill("#versions input[name=experiment]", str(run_id))
        page.click("#versions button[type=submit]")
        page.wait_for_selector(f"#versions-table tr[data-version='{number}']")
    first = page.inner_text("#versions-table tr[data-version='1']")
    assert "MAE" in first and "persistence" in first

    set_alias(page, "champion", 1, "first model")
    page.wait_for_selector("#aliases-table tr[data-alias=champion]")
    set_alias(page, "champion", 2, "lower MAE")
    page.wait_for_selector("#alias-history tbody tr:nth-child(2)")
    assert alias_version(dashboard, "champion") == 2
    page.click("#rollback")
    assert "Roll it back to v1" in page.inner_text("dialog[open]")
    page.fill("dialog[open] input[name=reason]", "v2 drifted")
    page.click("dialog[open] button[type=submit]")
    page.wait_for_selector("#alias-history tbody tr:nth-child(3)")
    newest = page.inner_text("#alias-history tbody tr:first-child")
    assert "v2 → v1" in newest and "v2 drifted" in newest and "rollback" in newest
    assert alias_version(dashboard, "champion") == 1
    assert "v1" in page.inner_text("#aliases-table tr[data-alias=champion]")

    page.select_option("#predict-ref", "weather@champion")
    page.fill("#predict-rows", beijing_csv)
    page.click("#predict-button")
    page.wait_for_selector("#predict-chart .main-svg")
    forecasts = SENT - TINY["sequence_length"] + 1
    assert f"{forecasts} predictions from {SENT} rows sent" in page.inner_text("#predict-summary")
    assert chart_points(page, "#predict-chart") == SENT + forecasts  # history, then forecasts
    page.evaluate("document.getElementById('toasts').replaceChildren()")  # the chart shows
    shoot(page, "models")
    page.fill("#predict-horizon", "3")
    page.click("#predict-button")
    page.wait_for_selector("#predict-summary:has-text('3 predictions')")
    page.wait_for_function("document.querySelector('#predict-chart')?.data?.[1]?.x.length === 3")
    assert page.locator("#predict-table tbody tr").count() == 3
    page.set_viewport_size(NARROW)  # usable at a phone's width: nothing wider than the window
    page.wait_for_function(f"document.documentElement.scrollWidth <= {NARROW['width']}")
    shoot(page, "models-narrow")


def test_a_prediction_job_cancelled_then_one_completed(
    dashboard: Dashboard, page, weather_runs: list[int], beijing_csv: str
):
    ensure_model(dashboard, weather_runs)
    page.goto(f"{dashboard.url}/#/models/{OTHER}")
    page.fill("#predict-rows", beijing_csv)
    # Both workers busy: the job waits in the queue, where Cancel ends it at once.
    sleepers = [dashboard.submit("sleeper", {"steps": 400, "sleep": 0.05}) for _ in range(2)]
    for run_id in sleepers:
        dashboard.wait_for(run_id, {"running"})
    page.click("#predict-job")
    queued = page.locator("#prediction-jobs tr[data-status=queued]")
    queued.locator("button", has_text="Cancel").click()
    page.wait_for_selector("#prediction-jobs tr[data-status=cancelled]")
    for run_id in sleepers:
        dashboard.api.post(f"/runs/{run_id}/cancel").raise_for_status()
    page.click("#predict-job")
    page.wait_for_selector("#prediction-jobs tr.job-rows td", timeout=30_000)
    done = page.locator("#prediction-jobs tr[data-status=completed]").first
    link = done.locator("a", has_text="predictions.csv").get_attribute("href")
    assert dashboard.api.get(link.removeprefix("/api/v1")).text.startswith("time,")
    shoot(page, "models-jobs")
    page.reload()  # the jobs are listed by the API: still there
    page.wait_for_selector("#prediction-jobs tr[data-status=cancelled]")


def test_bad_rows_and_an_unknown_model_read_clearly(
    dashboard: Dashboard, page, weather_runs: list[int]
):
    ensure_model(dashboard, weather_runs)
    page.goto(f"{dashboard.url}/#/models/{OTHER}")
    page.fill("#predict-rows", "year,month,day,hour\n2010,1,1,0")
    page.click("#predict-button")
    page.wait_for_selector("#predict-error .error-box")
    message = page.inner_text("#predict-error")
    assert "could not predict from these rows" in message and "no column 'pm2.5'" in message
    page.goto(f"{dashboard.url}/#/models/wether")
    page.wait_for_selector(".error-box")
    assert "no model named 'wether'" in page.inner_text(".error-box")


def ensure_model(dashboard: Dashboard, runs: list[int]) -> None:
    """Model OTHER with a version, registered through the API (once per module)."""
    if dashboard.api.get(f"/models/{OTHER}").status_code == 404:
        dashboard.api.post("/models", json={"name": OTHER}).raise_for_status()
        answer = dashboard.api.post(f"/models/{OTHER}/versions", json={"experiment": runs[0]})
        answer.raise_for_status()


def test_a_models_versions_download_as_csv(dashboard: Dashboard, page, weather_runs: list[int]):
    if dashboard.api.get("/models/csv-model").status_code == 404:
        dashboard.api.post("/models", json={"name": "csv-model"}).raise_for_status()
        answer = dashboard.api.post(
            "/models/csv-model/versions", json={"experiment": weather_runs[0]}
        )
        answer.raise_for_status()
    page.goto(f"{dashboard.url}/#/models/csv-model")
    with page.expect_download() as download:
        page.click("#versions-csv")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("model,version,pipeline,source_experiment_id,")
    assert lines[1].startswith(f"csv-model,1,weather-forecaster,{weather_runs[0]},")
    assert page.get_attribute("#jobs-csv", "href").endswith(
        "/models/csv-model/predictions?format=csv"
    )


MANY = 51
"""Versions of model ``many``: one more than the page of versions the model's page shows."""


def test_a_version_past_the_first_page_is_named_by_its_number(
    dashboard: Dashboard, page, weather_runs: list[int], beijing_csv: str
):
    if dashboard.api.get("/models/many").status_code == 404:
        dashboard.api.post("/models", json={"name": "many"}).raise_for_status()
        for number in range(MANY):
            run = weather_runs[number % 2]
            answer = dashboard.api.post("/models/many/versions", json={"experiment": run})
            answer.raise_for_status()
    page.goto(f"{dashboard.url}/#/models/many")
    page.wait_for_selector(f"#versions-table tr[data-version='{MANY}']")
    assert page.locator("#versions-table tr[data-version='1']").count() == 0  # page 2
    assert page.input_value("#alias-form input[name=version]") == str(MANY)  # the latest
    set_alias(page, "champion", 1, "the first one")
    page.wait_for_selector("#alias-version-help:has-text('v1: run')")
    page.wait_for_selector("#aliases-table tr[data-alias=champion]:has-text('v1')")
    assert int(dashboard.api.get("/models/many/aliases/champion").json()["version"]) == 1
    page.fill("#alias-form input[name=version]", "99")
    page.wait_for_selector("#alias-version-help:has-text('99')")

    page.select_option("#predict-ref", "/by-number")
    page.fill("#predict-version", "2")
    page.wait_for_selector("#predict-needs:has-text('v2 ·')")
    page.fill("#predict-rows", beijing_csv)
    page.click("#predict-button")
    page.wait_for_selector("#predict-summary:has-text('many v2')")
    assert "(many/2)" in page.inner_text("#predict-summary")
    page.fill("#predict-version", "0")  # Predict: the browser's check of the field stops it
    assert page.evaluate("document.querySelector('#predict-version').validity.rangeUnderflow")
    page.click("#predict-job")  # a button outside the form's checks: the page's own message
    page.wait_for_selector("#predict-error:has-text('whole number')")

    page.click("#versions-next")  # the pager's buttons keep their ids ("versions-…")
    page.wait_for_selector("#versions-table tr[data-version='1']")
    assert "champion" in page.inner_text("#versions-table tr[data-version='1']")
    shoot(page, "models-many")


def test_names_in_the_forecast_chart_are_shown_as_written(
    dashboard: Dashboard, page, weather_runs: list[int], beijing_csv: str
):
    """Plotly reads a subset of HTML in names and titles: a target named like markup (a
    column of the user's file) is shown as written, not as bold text."""
    ensure_model(dashboard, weather_runs)
    target = "<b>TEMP</b> 5% <i>x"
    answer = {
        "model": OTHER, "version": 1, "reference": OTHER, "rows": 2,
        "predictions": {"time": ["2014-01-01T03", "2014-01-01T04"], "forecast": [1.5, 2.5]},
        "history": {"target": target, "time": ["2014-01-01T00", "2014-01-01T01"],
                    "value": [1.0, 2.0]},
    }  # fmt: skip
    page.route("**/api/v1/models/*/predict", lambda route: route.fulfill(json=answer))
    page.goto(f"{dashboard.url}/#/models/{OTHER}")
    page.fill("#predict-rows", beijing_csv)
    page.click("#predict-button")
    legend = "#predict-chart .legend .legendtext"  # an earlier test's chart may still show
    page.wait_for_function(
        "([legend, name]) => [...document.querySelectorAll(legend)].some("
        "(e) => e.textContent === name)",
        arg=[legend, f"{target} (history)"],
    )
    assert page.text_content("#predict-chart .ytitle") == target
    bold = page.locator("#predict-chart .legend tspan[style*='bold']").count()
    assert bold == 0 and page.locator("#predict-chart .legend a").count() == 0


def test_metric_marks_and_request_bytes(dashboard: Dashboard, page):
    """The better/worse marks follow ui.metricDirection (an unknown direction gets none);
    rows are cut to the API's 1 MB in UTF-8 bytes, which the server then accepts."""
    page.goto(f"{dashboard.url}/#/models")
    page.wait_for_selector("#models-table")
    marks = page.evaluate(
        """async () => {
          const { verdictOf, metricLine } = await import('/ui/js/pages/models/shared.js');
          const mark = (name, model, base) => verdictOf(name, { model, persistence: base });
          return {
            mae: mark('MAE', 1, 2), accuracy: mark('Directional accuracy', 0.4, 0.6),
            hitRate: mark('Hit rate', 0.6, 0.5), mase: mark('MASE (m=24)', 0.9, 1),
            unknown: mark('Zeta', 1, 2), equal: mark('RMSE', 2, 2),
            line: metricLine('Zeta', { model: 1, persistence: 2 }).querySelector('strong')
              .className,
          };
        }"""
    )
    assert marks == {
        "mae": "better", "accuracy": "worse", "hitRate": "better", "mase": "better",
        "unknown": "", "equal": "", "line": "",
    }  # fmt: skip
    sizes = page.evaluate(
        """async () => {
          const rows = await import('/ui/js/pages/models/rows.js');
          const text = '日本語'.repeat(14);  // 42 UTF-16 units, 126 bytes
          const all = Array.from({ length: 10000 }, (_, i) => ({ name: text, i: String(i) }));
          const { rows: sent, note } = rows.rowsToSend(all, { forecaster: false }, false);
          const post = async (body) => (await fetch('/api/v1/models/nope/predict', {
            method: 'POST', headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          })).status;
          return {
            units: JSON.stringify(all).length, bytes: rows.bodyBytes(all), sent: sent.length,
            sentBytes: rows.bodyBytes(sent), note, limit: rows.MAX_BODY_BYTES,
            whole: await post({ rows: all, history: true }),
            cut: await post({ rows: sent, history: true }),
          };
        }"""
    )
    assert sizes["units"] < sizes["limit"] < sizes["bytes"]  # what .length measured before
    assert sizes["whole"] == 413 and sizes["cut"] == 404  # the cut rows reach the route
    assert 0 < sizes["sent"] < 10_000 and sizes["sentBytes"] <= sizes["limit"]
    assert sizes["note"].startswith(f"Sending the first {sizes['sent']:,} of 10,000 rows")


def test_an_adapters_versions_show_their_examples_and_the_gates_verdict_and_offer_no_predict(
    dashboard: Dashboard, page
):
    # Held out, the new adapter alone passed 2 of 6 and the champion none alone: p = 0.25,
    # not promoted. The version as a fine-tune's settle() registers it (figures, examples).
    decision = decide([False] * 4 + [True] * 2, [True] * 2 + [False] * 2 + [True] * 2,
                      [True] * 12 + [False] * 8, [True] * 12 + [False] * 8)  # fmt: skip
    store = Store(f"sqlite:///{dashboard.home / 'azuraforge.db'}")
    store.create_model("expert-python", description="the chat's adapters of an expert")
    store.create_version(
        "expert-python", pipeline=ADAPTER_PIPELINE, artifact_path="models/expert-python/1",
        artifact_digest="0" * 64, source_experiment_id=None, source_experiment_name="fine-tune-1",
        metrics={"train_examples": 14, "held_out_examples": 6, **decision.figures},
        config={"examples": {"trained": 14, "held_out": 6},
                "decision": {"promote": False, "reason": decision.reason, "champion": None}},
        data_fingerprint="f" * 64, description=decision.reason,
    )  # fmt: skip
    store.close()
    page.goto(f"{dashboard.url}/#/models/expert-python")
    row = page.wait_for_selector("#versions-table tr[data-version='1'] .metrics-cell")
    shown = row.inner_text()
    assert "examples: 14 trained · 6 held out" in shown and "not promoted" in shown
    assert "held out: new 2 to champion 0, p = 0.25 (below 0.05 promotes)" in shown
    assert "frozen set: 12 → 12 of 20 passed" in shown and decision.reason in shown
    assert page.locator("#predict-button, #predict-job").count() == 0  # no Predict
    assert "answer in the chat" in page.inner_text("#predict-adapter")
    page.click("#versions-table tr[data-version='1'] button:text-is('Details')")
    figures = page.inner_text(".version-details table.metrics")
    assert "train_examples\t14" in figures and "p_value\t0.25" in figures
    shoot(page, "models-adapter")
