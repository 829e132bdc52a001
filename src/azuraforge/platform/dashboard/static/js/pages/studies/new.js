// New study: a pipeline, its base config (the form its config schema draws), the search space
// (one row per searched setting), the objective and how to search it. Everything is checked
// before anything is sent; the API's 422 messages land on the field they name (the space's
// rows, the base config's fields or the study's own), a taken name on the name.

import { ApiError, api } from "../../api.js";
import { fieldsOf, schemaForm } from "../../form.js";
import { navigate, replaceQuery } from "../../router.js";
import { errorBox, fill, h, metricDirection, toast } from "../../ui.js";
import { spaceEditor } from "./space.js";

const OBJECTIVES = ["val_loss", "loss"];
/** The study's own fields, as the API names them (loc ["body", key]). */
const OWN = ["objective", "direction", "sampler", "pruner", "n_trials", "parallelism", "seed", "name"];

function select(name, options, chosen) {
  return h("select", { id: `study-${name}`, name }, options.map(([value, label]) => h("option", { value, selected: value === chosen }, label)));
}

function textInput(name, props = {}) {
  return h("input", { type: "text", id: `study-${name}`, name, autocomplete: "off", spellcheck: "false", ...props });
}

/** A whole number in [low, high] from `text`, or throws; empty is `fallback`. */
function wholeNumber(text, low, high, fallback) {
  const trimmed = text.trim();
  if (trimmed === "" && fallback !== undefined) return fallback;
  if (!/^\d+$/.test(trimmed)) throw new Error(trimmed ? `must be a whole number, got "${trimmed}"` : "required");
  const value = Number(trimmed);
  if (value < low || value > high) throw new Error(`must be from ${low.toLocaleString("en-US")} to ${high.toLocaleString("en-US")}, got ${value}`);
  return value;
}

export async function renderNew(main, { query }) {
  const { data: pipelines } = await api.get("/pipelines");
  const usable = pipelines.filter((p) => !p.error);
  const head = h("div", { class: "page-head" }, h("h1", {}, "New study"), h("a", { href: "#/studies" }, "All studies"));
  if (!usable.length) {
    fill(main, head, errorBox(new Error("No pipeline can be used: install a package that declares one (entry-point group azuraforge.pipelines)."), "Nothing to tune"));
    return null;
  }
  const wanted = query.get("pipeline");
  let chosen = usable.find((p) => p.name === wanted) || usable.find((p) => p.name === "weather-forecaster") || usable[0];
  let form = null;
  let space = null;
  let directionTouched = false;

  const picker = h("select", { id: "study-pipeline", name: "pipeline", onchange: (e) => choose(e.target.value) },
    pipelines.map((p) => h("option", { value: p.name, disabled: Boolean(p.error), selected: p.name === chosen.name }, p.error ? `${p.name} (unavailable)` : p.name)));
  const description = h("p", { class: "muted" });
  const suggestions = h("datalist", { id: "objective-suggestions" });
  const inputs = {
    objective: textInput("objective", { value: "val_loss", list: "objective-suggestions", maxlength: "200" }),
    direction: select("direction", [["minimize", "minimize"], ["maximize", "maximize"]], "minimize"),
    sampler: select("sampler", [["tpe", "TPE (Bayesian)"], ["random", "random"], ["grid", "grid (every combination)"]], "tpe"),
    pruner: select("pruner", [["median", "median (stop below-median trials)"], ["hyperband", "hyperband"], ["none", "none"]], "median"),
    n_trials: textInput("n_trials", { value: "20", inputmode: "numeric" }),
    parallelism: textInput("parallelism", { value: "2", inputmode: "numeric" }),
    seed: textInput("seed", { inputmode: "numeric", placeholder: "random when empty" }),
    name: textInput("name", { placeholder: "generated when empty", maxlength: "200" }),
  };
  inputs.direction.addEventListener("change", () => { directionTouched = true; });
  inputs.objective.addEventListener("input", () => {
    if (!directionTouched) inputs.direction.value = metricDirection(inputs.objective.value) === "higher" ? "maximize" : "minimize";
  });
  const helps = {
    objective: "A metric the pipeline logs while it trains (its best value over the run counts).",
    sampler: "Grid needs every float range to have a step.",
    pruner: "Stops trials doing worse than the others at the same step.",
    n_trials: "Trial budget, 1 to 10,000 (a grid: at most its size).",
    parallelism: "Trials queued or running at once, 1 to 64.",
    seed: "Seeds the sampler: the same seed draws the same trials.",
    name: "Unique in the project.",
  };
  const labels = { objective: "Objective", direction: "Direction", sampler: "Sampler", pruner: "Pruner", n_trials: "Trials", parallelism: "At once", seed: "Seed", name: "Study name" };
  const errors = {};
  const ownFields = OWN.map((key) => {
    errors[key] = h("div", { class: "field-error", id: `error-study-${key}`, role: "alert" });
    inputs[key].setAttribute("aria-describedby", `error-study-${key}`);
    return h("div", { class: "field", dataset: { path: key } }, h("label", { for: `study-${key}` }, labels[key]), inputs[key], errors[key],
      helps[key] ? h("div", { class: "help" }, helps[key]) : null);
  });
  const spaceBox = h("div");
  const formBox = h("div");
  const formError = h("div");
  const submitButton = h("button", { type: "submit", class: "primary", id: "study-submit" }, "Start study");

  fill(main, head, h("form", { class: "card", novalidate: true, onsubmit: (e) => { e.preventDefault(); submit(); } },
    h("div", { class: "form-grid" }, h("div", { class: "field" }, h("label", { for: "study-pipeline" }, "Pipeline"), picker)),
    description,
    h("h2", {}, "Search space"), spaceBox,
    h("h2", { class: "studies-section" }, "Objective and search"), h("div", { class: "form-grid" }, ownFields), suggestions,
    h("h2", { class: "studies-section" }, "Base config"),
    h("p", { class: "small muted" }, "Every trial runs with these settings; the searched ones are drawn for each trial instead."),
    formBox, formError,
    h("div", { class: "form-actions" }, submitButton)));

  function choose(name) {
    chosen = pipelines.find((p) => p.name === name);
    replaceQuery(new URLSearchParams({ pipeline: name }));
    description.textContent = chosen.description;
    fill(formError);
    form = schemaForm(chosen.config_schema, { values: chosen.defaults || {} });
    fill(formBox, form.element);
    space = spaceEditor(fieldsOf(chosen.config_schema), { onChange: markSearched });
    fill(spaceBox, space.element);
    space.add();
    suggest(name);
  }

  function markSearched(names) {
    for (const box of form.element.querySelectorAll(".field[data-path]")) {
      box.classList.toggle("studies-searched", names.includes(box.dataset.path));
    }
  }

  async function suggest(name) {
    fill(suggestions, OBJECTIVES.map((key) => h("option", { value: key })));
    try {
      const { data } = await api.get("/runs", { pipeline: name, limit: 25 });
      const keys = new Set(OBJECTIVES);
      for (const run of data) for (const key of Object.keys(run.metrics || {})) keys.add(key);
      if (chosen.name === name) fill(suggestions, [...keys].map((key) => h("option", { value: key })));
    } catch {
      // suggestions only: the objective can be typed
    }
  }

  function setOwnError(key, message) {
    errors[key].textContent = message;
    errors[key].parentElement.classList.toggle("invalid", Boolean(message));
    inputs[key].setAttribute("aria-invalid", message ? "true" : "false");
  }

  /** The study's own values, checked; problems land on their fields. */
  function readOwn() {
    const values = {};
    const problems = [];
    const check = (key, read) => {
      try {
        values[key] = read(inputs[key].value);
        setOwnError(key, "");
      } catch (error) {
        setOwnError(key, error.message);
        problems.push(`${labels[key].toLowerCase()}: ${error.message}`);
      }
    };
    check("objective", (text) => {
      if (!text.trim()) throw new Error("name the metric to optimise, such as val_loss");
      return text.trim();
    });
    for (const key of ["direction", "sampler", "pruner"]) values[key] = inputs[key].value;
    check("n_trials", (text) => wholeNumber(text, 1, 10_000));
    check("parallelism", (text) => wholeNumber(text, 1, 64));
    check("seed", (text) => wholeNumber(text, 0, 2 ** 31 - 1, null));
    values.name = inputs.name.value.trim() || null;
    return { values, problems };
  }

  async function submit() {
    fill(formError);
    form.clearErrors();
    const own = readOwn();
    const searched = space.read({ grid: inputs.sampler.value === "grid" });
    const { config, errors: configErrors } = form.read();
    const problems = [...searched.errors, ...own.problems, ...Object.entries(configErrors).map(([path, message]) => `config ${path}: ${message}`)];
    if (problems.length) {
      space.focusFirstError();
      fill(formError, errorBox(new Error(`${problems.length} value(s) need a fix: ${problems.slice(0, 6).join("; ")}`), "Not started"));
      return;
    }
    const body = { pipeline: chosen.name, config, space: searched.space, ...own.values };
    submitButton.disabled = true;
    submitButton.textContent = "Starting…";
    try {
      const study = await api.post("/studies", body);
      toast(`Study ${study.id} started: ${study.trials_created} trial(s) queued.`, "ok");
      navigate(`#/studies/${study.id}`);
    } catch (error) {
      refused(error);
    } finally {
      submitButton.disabled = false;
      submitButton.textContent = "Start study";
    }
  }

  /** The API's refusal on the fields it names; what no field takes in the box below. */
  function refused(error) {
    if (!(error instanceof ApiError)) {
      fill(formError, errorBox(error, "The study was not started"));
      return;
    }
    const unplaced = [];
    for (const detail of error.details) {
      const [where, key] = (detail.loc || []).map(String);
      if (where === "space") unplaced.push(...space.showErrors([detail]));
      else if (where === "config") unplaced.push(...form.showErrors([detail]));
      else if (where === "body" && OWN.includes(key)) setOwnError(key, detail.msg);
      else if (where === "body" && key === "space") unplaced.push(...space.showErrors([{ ...detail, loc: ["space"] }]));
      else unplaced.push(`${(detail.loc || []).join(".")}: ${detail.msg}`);
    }
    if (error.status === 409 && /name/.test(error.message)) setOwnError("name", error.message);
    space.focusFirstError();
    const placed = error.details.length > 0 && unplaced.length < error.details.length;
    const message = unplaced.length ? unplaced.join("; ") : placed ? "See the values marked above: the API's message is beside each." : error.message;
    fill(formError, errorBox(new Error(message), "The API refused the study"));
  }

  choose(chosen.name);
  return null;
}
