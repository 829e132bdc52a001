"""The experiments page's scores: a score chosen as a column (the sleeper's result holds MAE
1/steps beside persistence's 2.0), sorted by clicking its header, a score filter typed in
(a bad one explained), the CSV download with the same filters and columns, and the chosen
score as an axis of the comparison of the runs ticked."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.e2e.conftest import Dashboard, shoot

SCORE = "metrics.MAE.model"


def shown_ids(page) -> list[int]:
    rows = "#runs-table tbody tr[data-id]"
    return [int(i) for i in page.eval_on_selector_all(rows, "rows => rows.map(r => r.dataset.id)")]


def test_a_score_column_sorts_filters_and_downloads_as_csv(dashboard: Dashboard, page):
    two, four, eight = (dashboard.submit("sleeper", {"steps": n, "sleep": 0}) for n in (2, 4, 8))
    for run_id in (two, four, eight):
        dashboard.wait_for(run_id, {"completed"})
    page.goto(f"{dashboard.url}/#/runs?pipeline=sleeper")
    page.wait_for_selector("#runs-table[data-query]")
    page.click(".column-chooser summary")
    page.check(f"#score-columns input[value='{SCORE}']")
    page.wait_for_selector(f"#runs-table td[data-score='{SCORE}']")
    page.click(".column-chooser summary")  # closed: its list covers the table
    header = page.locator("#runs-table th.sortable", has_text=SCORE)
    header.click()
    page.wait_for_selector("#runs-table[data-query*='order=asc']")
    assert shown_ids(page)[:3] == [eight, four, two]  # MAE 0.125, 0.25, 0.5
    header.click()
    page.wait_for_selector("#runs-table[data-query*='sort=score']:not([data-query*='order=asc'])")
    assert shown_ids(page)[:3] == [two, four, eight]
    assert page.locator(f"tr[data-id='{eight}'] td[data-score='{SCORE}']").inner_text() == "0.125"

    page.fill("#score-filter", f"{SCORE}<0.3, {SCORE}>0.1")
    page.press("#score-filter", "Enter")
    page.wait_for_selector("#runs-table[data-query*='score=']")
    assert shown_ids(page) == [four, eight]
    shoot(page, "experiments-scores")
    with page.expect_download() as download:
        page.click("#export-csv")
    saved = Path(download.value.path())
    table = list(csv.reader(saved.read_text().splitlines()))
    assert table[0] == ["id", "name", "pipeline", "status", "created_at", "finished_at", SCORE]
    assert [(int(row[0]), row[-1]) for row in table[1:]] == [(four, "0.25"), (eight, "0.125")]

    page.fill("#score-filter", "MAE<")
    page.press("#score-filter", "Enter")
    page.wait_for_selector("text=is not <name><op><number>")

    # The chosen score goes along to the comparison as an axis and a column.
    for run_id in (four, eight):
        page.check(f"tr[data-id='{run_id}'] input[type=checkbox]")
    page.click("#compare-selected")
    page.wait_for_selector(f"#compare-table th:has-text('{SCORE}')")
    assert page.locator(f"#compare-table tr[data-id='{eight}'] td").last.inner_text() == "0.125"
    assert "scores=" in page.url
