// Launch: pick a pipeline; its config's JSON Schema draws the form. Values are checked before
// anything is sent and the API's 422 messages land on the field they name. A field switched
// to "grid" takes a list of values: one run per combination, sharing a batch id.

import { ApiError, api } from "../api.js";
import { dataFilePicker } from "../datafiles.js";
import { schemaForm } from "../form.js";
import { navigate, replaceQuery } from "../router.js";
import { errorBox, fill, h, toast } from "../ui.js";

export async function render(main, { query }) {
  const { data: pipelines } = await api.get("/pipelines");
  const usable = pipelines.filter((p) => !p.error);
  if (!pipelines.length) {
    fill(main, h("h1", {}, "Launch a run"), errorBox(new Error("No pipeline is installed: install a package that declares one (entry-point group azuraforge.pipelines)."), "Nothing to launch"));
    return null;
  }
  const wanted = query.get("pipeline");
  let chosen = usable.find((p) => p.name === wanted) || usable.find((p) => p.name === "weather-forecaster") || usable[0];

  const picker = h("select", { id: "pipeline", name: "pipeline", "aria-label": "Pipeline", onchange: (e) => choose(e.target.value) },
    pipelines.map((p) => h("option", { value: p.name, disabled: Boolean(p.error), selected: chosen && p.name === chosen.name }, p.error ? `${p.name} (unavailable)` : p.name)));
  const broken = pipelines.filter((p) => p.error).map((p) => h("div", { class: "small muted" }, `${p.name} cannot be used: ${p.error}`));
  const description = h("p", { class: "muted" });
  const formBox = h("div");
  const nameInput = h("input", { type: "text", id: "run-name", name: "name", placeholder: "generated when empty", maxlength: "200", autocomplete: "off" });
  const formError = h("div");
  const batchNote = h("span", { class: "muted small" });
  const submitButton = h("button", { type: "submit", class: "primary", id: "launch-submit" }, "Launch");
  let form = null;

  const element = h("form", { class: "card", novalidate: true, onsubmit: (e) => { e.preventDefault(); submit(); } },
    h("div", { class: "form-grid" },
      h("div", { class: "field" }, h("label", { for: "pipeline" }, "Pipeline"), picker),
      h("div", { class: "field" }, h("label", { for: "run-name" }, "Run name"), nameInput, h("div", { class: "help" }, "Unique in the project; a batch adds -1, -2…"))),
    description, broken, h("h2", {}, "Settings"), formBox, formError,
    h("div", { class: "form-actions" }, submitButton, batchNote));

  fill(main, h("div", { class: "page-head" }, h("h1", {}, "Launch a run"), h("a", { href: "#/studies/new" }, "Tune it instead (a study) →")), element);

  function choose(name) {
    chosen = pipelines.find((p) => p.name === name);
    const query = new URLSearchParams({ pipeline: name });
    replaceQuery(query);
    description.textContent = chosen.description;
    fill(formError);
    form = schemaForm(chosen.config_schema, { values: chosen.defaults || {}, grid: true, onChange: countRuns, filePicker: dataFilePicker });
    fill(formBox, form.element);
    countRuns();
  }

  function countRuns() {
    const runs = form.gridSize();
    batchNote.textContent = runs > 1 ? `a batch of ${runs} runs` : "";
    submitButton.textContent = runs > 1 ? `Launch ${runs} runs` : "Launch";
  }

  async function submit() {
    fill(formError);
    const { config, grid, errors } = form.read();
    if (Object.keys(errors).length) {
      form.focusFirstError();
      fill(formError, errorBox(new Error(`${Object.keys(errors).length} setting(s) need a fix: ${Object.entries(errors).map(([path, message]) => `${path} ${message}`).join("; ")}`), "Not launched"));
      return;
    }
    const body = { pipeline: chosen.name, config };
    if (grid) body.grid = grid;
    if (nameInput.value.trim()) body.name = nameInput.value.trim();
    submitButton.disabled = true;
    submitButton.textContent = "Launching…";
    try {
      const { data } = await api.post("/runs", body);
      toast(data.length > 1 ? `Queued a batch of ${data.length} runs.` : `Queued run ${data[0].id}.`, "ok");
      navigate(data.length > 1 ? `#/runs?batch_id=${data[0].batch_id}` : `#/runs/${data[0].id}`);
    } catch (error) {
      const details = error instanceof ApiError ? error.details : [];
      if (form.showErrors(details).length < details.length) form.focusFirstError();
      fill(formError, errorBox(error, "The API refused the run"));
    } finally {
      submitButton.disabled = false;
      countRuns();
    }
  }

  if (chosen) choose(chosen.name);
  else fill(formBox, errorBox(new Error("Every installed pipeline failed to load; see the reasons above."), "Nothing to launch"));
  return null;
}
