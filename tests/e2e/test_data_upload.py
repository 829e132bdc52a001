"""The launch form's file picker: a CSV uploaded through the page lands in the project's data
folder, is picked for the setting and trained on; a file the server's reader refuses shows
its message beside the setting and is not kept."""

from __future__ import annotations

import re

from tests.e2e.conftest import Dashboard, shoot
from tests.platform.api.routes.test_data import gspc_slice


def test_upload_a_csv_from_the_launch_form_pick_it_and_train_on_it(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/launch?pipeline=forecaster")
    page.set_input_files("#upload-csv", files=[
        {"name": "gspc-page.csv", "mimeType": "text/csv", "buffer": gspc_slice(300)},
    ])  # fmt: skip
    page.wait_for_function("document.querySelector('#field-csv').value === 'gspc-page.csv'")
    assert page.input_value("#files-csv") == "gspc-page.csv"
    assert "gspc-page.csv: 300 rows; columns Date" in page.inner_text("#upload-status-csv")
    listed = dashboard.api.get("/data").json()
    assert [(file["name"], file["rows"]) for file in listed] == [("gspc-page.csv", 300)]
    shoot(page, "launch-uploaded")

    page.fill("#field-target", "Close")
    page.fill("#field-time_column", "Date")
    page.select_option("#field-missing", "fill")
    for name, value in {"epochs": "1", "sequence_length": "8", "hidden_size": "8"}.items():
        page.fill(f"#field-{name}", value)
    page.click("#launch-submit")
    page.wait_for_url(re.compile(r"#/experiments/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    run = dashboard.wait_for(run_id, {"completed", "failed"}, timeout=120)
    assert run["status"] == "completed", run["error"]
    assert run["config"]["csv"] == "gspc-page.csv"


def test_a_file_the_reader_refuses_shows_its_message_and_is_not_kept(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/launch?pipeline=forecaster")
    page.wait_for_selector("#files-csv")
    page.set_input_files("#upload-csv", files=[
        {"name": "latin.csv", "mimeType": "text/csv",
         "buffer": "jour;clôture\n2024-01-02;3,5\n".encode("latin-1")},
    ])  # fmt: skip
    page.wait_for_selector("#upload-status-csv.field-error")
    said = page.inner_text("#upload-status-csv")
    assert said.startswith("Not uploaded: latin.csv is not a UTF-8 text CSV file: line 1"), said
    assert page.input_value("#field-csv") == ""
    assert "latin.csv" not in [file["name"] for file in dashboard.api.get("/data").json()]
