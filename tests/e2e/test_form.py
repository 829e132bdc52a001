"""The launch form's generator on a config with nested groups, choices, lists and optional
values, as Pydantic writes its JSON Schema (a plugin's config may hold any of them); its file
picker: a CSV uploaded through the page lands in the project's data folder, is picked for the
setting and trained on, and a file the server's reader refuses shows its message beside the
setting and is not kept."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from tests.e2e.conftest import Dashboard, shoot
from tests.platform.api.routes.test_data import gspc_slice


class Optimiser(BaseModel):
    """How the weights move."""

    name: Literal["adam", "sgd"] = Field("adam", description="The optimiser.")
    lr: float = Field(0.01, gt=0, le=1, description="Learning rate.")


class NestedConfig(BaseModel):
    epochs: int = Field(3, ge=1, description="Most epochs.")
    layers: list[int] = Field(default_factory=lambda: [32, 16], description="Units per layer.")
    dropout: float | None = Field(None, ge=0, lt=1, description="None: no dropout.")
    shuffle: bool = True
    optimiser: Optimiser = Field(default_factory=Optimiser)
    target: str = Field(..., description="Column to predict.")
    code: str = Field(
        "ab", pattern=r"(?i)^[a-z]+$", description="A pattern JavaScript cannot read."
    )


FORM = """async ([schema, values]) => {
  const { schemaForm } = await import('/ui/js/form.js');
  const form = schemaForm(schema, { values, grid: true });
  document.querySelector('main').replaceChildren(form.element);
  window.form = form;
}"""


def test_nested_groups_choices_lists_and_optional_values(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/launch")
    page.wait_for_selector("#launch-submit")
    # The launch page passes GET /pipelines' defaults: a default_factory is not in the schema.
    defaults = {
        key: field.get_default(call_default_factory=True)
        for key, field in NestedConfig.model_fields.items()
        if not field.is_required()
    }
    page.evaluate(FORM, [NestedConfig.model_json_schema(), {**defaults, "optimiser": {}}])
    assert page.inner_text("fieldset[data-path=optimiser] legend") == "Optimiser"
    assert page.input_value("[id='field-optimiser.lr']") == "0.01"
    assert page.eval_on_selector(
        "[id='field-optimiser.name']", "e => [...e.options].map(o => o.value)"
    ) == ["adam", "sgd"]
    assert page.input_value("#field-layers") == "32, 16"
    assert page.is_checked("#field-shuffle")
    assert "Learning rate. (> 0, ≤ 1) default 0.01" in page.inner_text(
        "[data-path='optimiser.lr'] .help"
    )
    assert page.locator("[data-grid-for='optimiser.lr']").count() == 0  # a grid is top-level

    read = page.evaluate("() => window.form.read()")
    assert read["errors"] == {"target": "required"}
    page.fill("#field-target", "load")
    page.fill("[id='field-optimiser.lr']", "2")
    page.fill("#field-layers", "64, x")
    read = page.evaluate("() => window.form.read()")
    assert read["errors"] == {
        "optimiser.lr": "must be ≤ 1, got 2",
        "layers": 'must be a number, got "x"',
    }
    page.fill("[id='field-optimiser.lr']", "0.001")
    page.select_option("[id='field-optimiser.name']", "sgd")
    page.fill("#field-layers", "64, 8")
    page.fill("#field-dropout", "")
    read = page.evaluate("() => window.form.read()")
    assert read == {
        "config": {"epochs": 3, "layers": [64, 8], "dropout": None, "shuffle": True,
                   "optimiser": {"name": "sgd", "lr": 0.001}, "target": "load", "code": "ab"},
        "grid": None,
        "errors": {},
    }  # fmt: skip
    assert NestedConfig(**read["config"]).optimiser.lr == 0.001

    page.check("[data-grid-for=epochs]")
    page.fill("#field-epochs", "2, 4")
    assert page.evaluate("() => window.form.read().grid") == {"epochs": [2, 4]}
    assert page.evaluate("() => window.form.gridSize()") == 2
    unplaced = page.evaluate(
        "() => window.form.showErrors([{loc: ['body', 'config', 'optimiser', 'lr'], msg: 'too "
        "high'}, {loc: ['body', 'config', 'other'], msg: 'unknown setting'}])"
    )
    assert page.inner_text("[id='error-optimiser.lr']") == "too high"
    assert unplaced == ["other: unknown setting"]
    config_named_field = "[{loc: ['config', 'target'], msg: 'taken'}]"
    assert page.evaluate(f"() => window.form.showErrors({config_named_field})") == []
    assert page.inner_text("#error-target") == "taken"
    shoot(page, "launch-nested-form")


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
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
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
