// What the models pages share: alias chips, metric cells beside their baselines, and
// dialogs that stay open showing the API's message until the action succeeds or is dismissed.

import { api } from "../../api.js";
import { dialog, errorBox, h, metricDirection, number } from "../../ui.js";

/** The model's aliases as chips ("champion → v2"), sorted by name. */
export function aliasChips(aliases, { versions = true } = {}) {
  const names = Object.keys(aliases || {}).sort();
  if (!names.length) return h("span", { class: "muted" }, "—");
  return h("span", { class: "alias-chips" }, names.map((name) =>
    h("span", { class: "badge alias", dataset: { alias: name }, title: `${name} → version ${aliases[name]}` },
      versions ? `${name} → v${aliases[name]}` : name)));
}

/**
 * A dialog whose `fields(values)` are asked for until `action(values)` succeeds (it resolves
 * to what it returned) or the dialog is dismissed (null); an error is shown in the dialog,
 * with the values kept.
 */
export async function dialogUntilDone({ title, fields, confirm, danger = false, action }) {
  let values = {};
  let error = null;
  for (;;) {
    const body = h("div", { class: "models-dialog" }, error ? errorBox(error, "Not done") : null, fields(values));
    const answer = await dialog({ title, body, confirm, danger });
    if (answer === null) return null;
    values = answer;
    try {
      return await action(values);
    } catch (caught) {
      error = caught;
    }
  }
}

/** Ask for a new model's name and description and create it; resolves to it (or null). */
export function createModelDialog() {
  return dialogUntilDone({
    title: "Create a model",
    confirm: "Create",
    fields: (values) => [
      field("Name", h("input", { name: "name", required: true, maxlength: "200", pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*", value: values.name || "", autocomplete: "off", placeholder: "weather" }),
        "Letters, digits, _ . - (it names the model in references: name@alias, name/3)."),
      field("Description", h("textarea", { name: "description", rows: "3", maxlength: "10000" }, values.description || "")),
    ],
    action: (values) => api.post("/models", { name: values.name.trim(), description: values.description || "" }),
  });
}

/** A labelled form field with an optional help line. */
export function field(label, input, help = "") {
  return h("div", { class: "field" }, h("label", {}, label, input.required ? h("span", { class: "required" }, "*") : null), input,
    help ? h("div", { class: "help" }, help) : null);
}

/**
 * One metric of a version: the model's value, then each baseline's, the model's marked
 * better or worse than the best baseline. `values` is {model: x, persistence: y, ...}.
 */
export function metricLine(metric, value) {
  const values = valuesOf(value);
  const baselines = Object.entries(values).filter(([name]) => name !== "model");
  const model = values.model;
  const verdict = verdictOf(metric, values);
  return h("span", { class: "metric-line", dataset: { metric } },
    h("span", { class: "metric-name" }, metric), " ",
    h("strong", { class: verdict, title: verdictTitle(metric, verdict) }, number(model)),
    baselines.length ? h("span", { class: "muted" }, " vs ",
      baselines.map(([name, value], i) => [i ? ", " : "", `${name} ${number(value)}`])) : null);
}

/**
 * "better" or "worse" when the model beats or trails the best baseline of `values`, else ""
 * (also when the metric's name does not tell which way is better: no guess).
 */
export function verdictOf(metric, value) {
  const values = valuesOf(value);
  const direction = metricDirection(metric);
  const model = values.model;
  const baselines = Object.entries(values).filter(([name, value]) => name !== "model" && typeof value === "number" && Number.isFinite(value));
  if (!direction || typeof model !== "number" || !baselines.length) return "";
  const numbers = baselines.map(([, value]) => value);
  const best = direction === "higher" ? Math.max(...numbers) : Math.min(...numbers);
  if (model === best) return "";
  return (model > best) === (direction === "higher") ? "better" : "worse";
}

function verdictTitle(metric, verdict) {
  const direction = metricDirection(metric);
  if (!direction) return "model (which way is better is not known from this metric's name)";
  return verdict ? `model ${verdict} than the best baseline (${direction} is better)` : "model";
}

/** The full metrics table of a version: a row per metric, a column per model/baseline. */
export function metricsTable(metrics) {
  const names = Object.keys(metrics || {});
  if (!names.length) return h("p", { class: "muted" }, "No metrics recorded.");
  const columns = ["model", ...new Set(names.flatMap((name) => Object.keys(valuesOf(metrics[name])).filter((key) => key !== "model")))];
  return h("div", { class: "table-wrap" }, h("table", { class: "metrics" },
    h("thead", {}, h("tr", {}, h("th", {}, "Metric"), columns.map((column) => h("th", { class: "num" }, column)))),
    h("tbody", {}, names.map((name) => {
      const verdict = verdictOf(name, metrics[name]);
      return h("tr", {}, h("td", {}, name), columns.map((column, i) =>
        h("td", { class: `num ${i === 0 ? verdict : ""}`.trim() }, number(valuesOf(metrics[name])[column]))));
    }))));
}

/** A metric's values by who scored them: {model: x, persistence: y...}; a plain number (an
 * adapter's figures: examples, a p-value) is the model's alone. */
function valuesOf(value) {
  return value !== null && typeof value === "object" ? value : { model: value };
}

/**
 * A model's references: its latest version and each alias. Any version by its number
 * (name/3) is the last choice, `version: null`: its number is asked for apart.
 */
export function references(model) {
  if (!model.latest_version) return [];
  const options = [{ ref: model.name, label: `${model.name} (latest: v${model.latest_version})`, version: model.latest_version }];
  for (const alias of Object.keys(model.aliases).sort()) {
    options.push({ ref: `${model.name}@${alias}`, label: `${model.name}@${alias} (v${model.aliases[alias]})`, version: model.aliases[alias] });
  }
  options.push({ ref: BY_NUMBER, label: `${model.name}/N: a version by its number`, version: null });
  return options;
}

/** The value of the reference "a version by its number" (a model's name never has a /). */
export const BY_NUMBER = "/by-number";

/** A version number typed in (a whole number from 1), or null. */
export function versionNumber(text) {
  const trimmed = String(text ?? "").trim();
  return /^[1-9]\d{0,9}$/.test(trimmed) && Number(trimmed) <= 2 ** 31 - 1 ? Number(trimmed) : null;
}

/** A reference as a path of the API (the model's name escaped; @ and / kept). */
export function refPath(ref) {
  const match = ref.match(/^([^@/]+)([@/].*)?$/);
  return match ? `${encodeURIComponent(match[1])}${match[2] || ""}` : encodeURIComponent(ref);
}

/** Columns of equal length ({name: [...]}) as a table of their first `limit` rows. */
export function columnsTable(columns, limit, attributes = {}) {
  const names = Object.keys(columns);
  const count = Math.min(names.length ? columns[names[0]].length : 0, limit);
  const cell = (value) => (typeof value === "number"
    ? h("td", { class: "num" }, number(value, 6))
    : h("td", { class: "nowrap" }, value ?? "—"));
  return h("div", { class: "table-wrap", ...attributes }, h("table", {},
    h("thead", {}, h("tr", {}, names.map((name) => h("th", {}, name)))),
    h("tbody", {}, Array.from({ length: count }, (_, i) => h("tr", {}, names.map((name) => cell(columns[name][i])))))));
}
