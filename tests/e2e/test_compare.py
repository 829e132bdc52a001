"""Compare runs, a failed one among them: curves, config diff, parallel coordinates, brushing."""

from __future__ import annotations

from tests.e2e.conftest import FINISHED, Dashboard, shoot


def test_three_runs_with_a_failed_one_draw_parallel_coordinates(dashboard: Dashboard, page):
    ids = [
        dashboard.submit("sleeper", {"steps": 4, "sleep": 0.0}),
        dashboard.submit("sleeper", {"steps": 8, "sleep": 0.001}),
        dashboard.submit("sleeper", {"steps": 6, "fail_at": 3}),
    ]
    statuses = [dashboard.wait_for(i, FINISHED)["status"] for i in ids]
    assert statuses == ["completed", "completed", "failed"]
    page.goto(f"{dashboard.url}/#/compare?experiments={','.join(map(str, ids))}")
    page.wait_for_selector("#parallel-chart .parcoords")
    chart = page.evaluate(
        "() => { const t = document.querySelector('#parallel-chart').data[0];"
        " return {type: t.type, labels: t.dimensions.map(d => d.label),"
        " colors: t.line.color, ticks: t.dimensions.map(d => d.ticktext)} }"
    )
    assert chart["type"] == "parcoords"
    assert chart["labels"][:3] == ["fail_at", "sleep", "steps"]
    assert "loss (last)" in chart["labels"]
    # the failed run logged two steps: its last loss is there; its MAE is not
    assert chart["colors"][0] == chart["colors"][1] != chart["colors"][2]
    assert "failed (1)" in page.inner_text("#status-legend")
    assert page.locator("#parallel-chart .y-axis").count() == len(chart["labels"])
    assert page.locator("#compare-curves .js-plotly-plot").count() == 2  # loss, val_loss
    assert "steps" in page.inner_text("#config-diff")
    shoot(page, "compare")

    # Brushing the top quarter of the "steps" axis (4 to 8) keeps only the second run.
    axis = page.locator("#parallel-chart .axis-brush .background").nth(2).bounding_box()
    x, top, height = axis["x"] + axis["width"] / 2, axis["y"], axis["height"]
    page.mouse.move(x, top + height * 0.2)
    page.mouse.down()
    page.mouse.move(x, top - 10, steps=8)  # past the top: up to the highest value
    page.mouse.up()
    page.wait_for_function("document.querySelector('#brush-note').textContent.startsWith('1 of')")
    visible = page.locator("#compare-table tbody tr:not([hidden])")
    assert visible.count() == 1
    assert visible.first.get_attribute("data-id") == str(ids[1])
    assert page.inner_text("#brush-note").startswith("1 of 3 runs")


def test_nothing_to_compare_says_what_to_do(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/compare")
    assert "Name the runs to compare" in page.inner_text(".notice")
    page.goto(f"{dashboard.url}/#/compare?experiments=1,abc")
    page.wait_for_selector(".error-box")
    assert "experiments" in page.inner_text(".error-box")
