"""The launch form's generator on a config with nested groups, choices, lists and optional
values, as Pydantic writes its JSON Schema (a plugin's config may hold any of them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tests.e2e.conftest import Dashboard, shoot


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
