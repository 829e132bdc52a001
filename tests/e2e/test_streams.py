"""The streams pages on a live stream with a known shift: the list shows it running, its page
draws its curves as it learns, the shift's drift opens a candidate that the test promotes
(marked on the chart, written in the lineage), then, paused from the page, a retrain, a
promotion and a rollback asked from it are answered and recorded with who and why, and no
event is taken until it resumes; an alert kept by the
server shows firing; the window's trading figures sit beside buy and hold; Stop ends it
cancelled."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from azuraforge.platform.services.access import FIRST_ADMIN
from azuraforge.testing.streams import write_shifted_csv
from tests.e2e.conftest import Dashboard, chart_points, shoot

pytestmark = pytest.mark.slow
EVENTS, SHIFT = 80_000, 3000
SPEED = 3600 * 800.0
"""800 events a second: the shift about 4 s in; the end not before 100 s, long after Stop (a
stream that ended by itself first would end ``completed``, truthfully, not ``cancelled``)."""


def lineage(dashboard: Dashboard, stream_id: int) -> list[dict[str, Any]]:
    answer = dashboard.api.get(f"/streams/{stream_id}/lineage")
    answer.raise_for_status()
    return list(answer.json())


def wait_for_events(dashboard: Dashboard, stream_id: int, events: int) -> None:
    """Wait until the stream has taken ``events`` events (a loaded machine starts it late)."""
    deadline = time.monotonic() + 60
    while dashboard.api.get(f"/streams/{stream_id}").json()["events"] < events:
        assert time.monotonic() < deadline, f"stream {stream_id} took {events} events in 60 s"
        time.sleep(0.2)


def trigger(page: Any, action: str, expected: str) -> None:
    """Ask for ``action`` on the page, confirm it if asked, and wait for its answer."""
    page.fill("#trigger-reason", f"{action} from the page")
    page.click(f"#trigger-{action}")
    if action in ("promote", "rollback"):
        page.click("dialog[open] button[type=submit]")
    page.wait_for_selector(f"#trigger-answer:has-text('{action} ')", timeout=15_000)
    page.wait_for_function(
        "!document.querySelector('#trigger-answer').textContent.includes('waiting')"
    )
    answer = page.inner_text("#trigger-answer")
    assert f"{action} done" in answer and expected in answer, answer


def test_a_live_stream_learns_promotes_and_is_rolled_back_from_its_page(
    dashboard: Dashboard, page: Any
) -> None:
    write_shifted_csv(dashboard.home / "data" / "shift.csv", EVENTS, SHIFT, seed=0)
    # An accuracy bound above what it reaches: its alert fires on the page (kept by serve).
    config = {"source": "shift.csv", "speed": SPEED, "warm": 200, "window": 100,
              "alert_accuracy_below": 0.95}  # fmt: skip
    created = dashboard.api.post("/streams", json={"config": config, "name": "shifted"})
    created.raise_for_status()
    stream_id = int(created.json()["id"])

    page.goto(f"{dashboard.url}/#/streams")
    page.wait_for_selector(f"#streams-table tr[data-id='{stream_id}'] [data-status=running]")
    row = f"#streams-table tr[data-id='{stream_id}']"
    page.wait_for_function(  # its events a second and lag, once it saved two checkpoints
        f"(([rate, lag]) => /^[\\d,]+$/.test(rate) && / s$/.test(lag))"
        f'([...document.querySelector("{row}").cells].slice(5, 7).map((c) => c.innerText))'
    )
    page.wait_for_function(  # the best rule by its name; the champion's return beside hold
        f"(([rule, traded, held]) => / \\d+\\.\\d\\d %$/.test(rule) && /^[a-z]/.test(rule) "
        f"&& /^[+-]\\d/.test(traded) && /^[+-]\\d/.test(held))"
        f'(["best-rule", "return", "buy-and-hold"].map((field) => document.querySelector('
        f"`{row} [data-field=${{field}}]`).innerText))"
    )
    page.click(f"#streams-table tr[data-id='{stream_id}'] a")
    page.wait_for_selector("#stream-source:has-text('events from')")  # what its source found
    page.wait_for_selector("#stream-chart .main-svg")
    page.wait_for_function("/\\d events\\/s · last checkpoint \\d+ s ago/.test("
                           "document.querySelector('#stream-sub').textContent)")  # fmt: skip
    first = chart_points(page, "#stream-chart")
    page.wait_for_function(f"(document.querySelector('#stream-chart')?.data || [])"
                           f".reduce((n, t) => n + t.x.length, 0) > {first}")  # fmt: skip

    page.wait_for_selector("#stream-alerts tr[data-rule=accuracy_below][data-state=firing]")
    page.wait_for_selector("#stream-lineage tr[data-kind=promote]", timeout=30_000)
    promoted = next(c for c in lineage(dashboard, stream_id) if c["kind"] == "promote")
    assert promoted["actor"] == "loop" and promoted["event"] >= SHIFT
    shapes = page.evaluate("document.querySelector('#stream-chart').layout.shapes.length")
    assert shapes >= 2  # the drift and the promotion, marked
    page.wait_for_function(  # the rollback test ends after 5,000 events
        "!document.querySelector('#stream-roles [data-role=previous]')", timeout=60_000
    )

    trigger(page, "pause", "paused")  # no event between the next three: nothing races them
    page.wait_for_selector("#stream-paused")
    paused_at = dashboard.api.get(f"/streams/{stream_id}").json()["events"]
    page.select_option("#trigger-learner", "opposite of last")
    trigger(page, "retrain", "candidate opposite of last-3")
    page.wait_for_selector("#stream-roles [data-role=candidate]")
    trigger(page, "promote", "promote")
    page.wait_for_selector("#stream-roles [data-role=previous]")
    trigger(page, "rollback", "rollback")
    assert dashboard.api.get(f"/streams/{stream_id}").json()["events"] == paused_at
    trigger(page, "resume", "resumed")
    by_hand = [c for c in lineage(dashboard, stream_id) if c["actor"] == FIRST_ADMIN]
    assert [c["kind"] for c in by_hand] == ["candidate", "promote", "rollback"]
    assert by_hand[2]["reason"] == "rollback from the page"
    assert by_hand[2]["model"] == by_hand[1]["other"]  # the champion before the promotion
    page.wait_for_selector("#stream-lineage tr[data-kind=rollback]")
    assert page.get_attribute("#stream-model", "href") == "#/models/shifted"

    page.click("#window-form button[type=submit]")
    page.wait_for_selector("#stream-scores tr[data-model='buy and hold']")
    champion = page.inner_text(f"#stream-scores tr[data-model='{promoted['model']}']")
    assert "%" in champion
    page.wait_for_selector("#stream-equity .main-svg")
    curves = page.evaluate("document.querySelector('#stream-equity').data.map((t) => t.name)")
    assert "buy and hold" in curves and promoted["model"] in curves  # not the rules
    assert not set(curves) & {"always up", "same as last"}
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    shoot(page, "stream")

    page.click("#stream-stop")
    page.click("dialog[open] button[type=submit]")
    page.wait_for_selector("#stream-status [data-status=cancelled]", timeout=20_000)


def test_a_stream_started_from_its_form_opens_its_page_and_a_refusal_lands_on_its_field(
    dashboard: Dashboard, page: Any, tmp_path: Path
) -> None:
    write_shifted_csv(tmp_path / "form.csv", 400, 10_000, seed=1)  # uploaded from the form
    page.goto(f"{dashboard.url}/#/streams")
    page.click("#stream-new")
    page.wait_for_selector("#field-source")
    assert page.input_value("#field-source") == "btc-hourly"
    page.fill("#field-source", "missing.csv")
    page.click("#stream-submit")
    page.wait_for_selector("#error-source:not(:empty)")
    assert "missing.csv" in page.inner_text("#error-source")
    assert "/tmp" not in page.inner_text("main")  # no server path in what it says
    page.set_input_files("#upload-source", str(tmp_path / "form.csv"))  # the launch's picker
    page.wait_for_selector("#upload-status-source:has-text('form.csv: 400 rows')")
    assert page.input_value("#field-source") == "form.csv"
    page.fill("#field-max_events", "400")
    page.fill("#stream-name", "from-the-form")
    page.click("#stream-submit")
    page.wait_for_url("**/#/streams/*")
    page.wait_for_selector("#stream-status [data-status]")
    assert page.inner_text("main h1") == "from-the-form"
    stream_id = int(page.url.rsplit("/", 1)[1])
    created = dashboard.api.get(f"/streams/{stream_id}").json()
    assert (created["name"], created["config"]["source"]) == ("from-the-form", "form.csv")
    assert created["config"]["max_events"] == 400 and created["config"]["url"] is None
    page.goto(f"{dashboard.url}/#/streams")
    with page.expect_download() as download:
        page.click("#streams-csv")
    listed = Path(download.value.path()).read_text().splitlines()
    assert listed[0].startswith("id,name,status,source,") and any(
        line.startswith(f"{stream_id},from-the-form,") for line in listed)  # fmt: skip


def test_a_retrain_run_asked_from_the_page_opens_its_candidate_and_links_both_ways(
    dashboard: Dashboard, page: Any
) -> None:
    write_shifted_csv(dashboard.home / "data" / "runs.csv", 30_000, 10_000, seed=2)  # 150 s
    config = {"source": "runs.csv", "speed": 3600 * 200.0, "warm": 200, "drift": None,
              "retrain_as": "run", "retrain_epochs": 5}  # fmt: skip
    created = dashboard.api.post("/streams", json={"config": config, "name": "retrained"})
    created.raise_for_status()
    stream_id = int(created.json()["id"])
    page.goto(f"{dashboard.url}/#/streams/{stream_id}")
    page.wait_for_selector("#stream-status [data-status=running]", timeout=20_000)
    wait_for_events(dashboard, stream_id, 1000)  # a retrain of no outcomes fails, truthfully
    trigger(page, "pause", "paused")  # the run trains while no event comes
    trigger(page, "retrain", "retrain logreg-adam as run")
    page.wait_for_selector("#stream-roles [data-role=candidate]", timeout=30_000)
    link = page.wait_for_selector("#stream-lineage tr[data-kind=candidate] a.run-link")
    run_id = int((link.get_attribute("href") or "").rsplit("/", 1)[1])
    (asked,) = [c for c in lineage(dashboard, stream_id) if c["kind"] == "retrain"]
    assert asked["run"] == run_id and asked["actor"] == FIRST_ADMIN
    link.click()
    page.wait_for_selector("#retrain-stream")
    assert page.get_attribute("#retrain-stream", "href") == f"#/streams/{stream_id}"
    assert not page.query_selector("#register-model")  # its learner is the stream's
    scores = page.inner_text("#scores")
    assert "held_out_log_loss" in scores and "one pass" in scores and "base rate" in scores
    page.wait_for_selector("main :text('is a retrain job, which writes no report')")
    page.wait_for_selector("#loss-chart .main-svg")
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    shoot(page, "retrain-run")
    page.click("#retrain-stream")
    page.wait_for_selector("#stream-stop")
    page.click("#stream-stop")
    page.click("dialog[open] button[type=submit]")
    page.wait_for_selector("#stream-status [data-status=cancelled]", timeout=20_000)
