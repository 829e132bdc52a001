// The search-space editor of a new study: one row per searched setting of the pipeline's
// config, searched as a float or int range (low, high, log, step) or as categorical choices.
// A new row starts from the setting's own limits around its default; every value is checked
// against the type and the limits before anything is sent, and the API's 422 messages
// (loc ["space", setting, part]) land on the part they name.

import { fill, h, number } from "../../ui.js";

const SEARCHABLE = new Set(["integer", "number", "boolean", "enum", "string"]);
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** The settings a study can search: the config's top-level settings of one value. */
export function searchable(fields) {
  return fields.filter((field) => SEARCHABLE.has(field.kind));
}

/** How a setting can be searched: a range of its numbers, or choices of any of its values. */
function typesOf(field) {
  if (field.kind === "integer") return ["int", "categorical"];
  if (field.kind === "number") return ["float", "categorical"];
  return ["categorical"];
}

function limitsOf(schema) {
  return {
    min: schema.minimum ?? schema.exclusiveMinimum,
    minOpen: schema.minimum === undefined && schema.exclusiveMinimum !== undefined,
    max: schema.maximum ?? schema.exclusiveMaximum,
    maxOpen: schema.maximum === undefined && schema.exclusiveMaximum !== undefined,
  };
}

/**
 * A range that fits the setting: its whole range when it has both limits (an int's when
 * at most 64 values), else a tenth to ten times its default (a float; an int: half to
 * twice), inside its limits; log when a positive float range spans two decades or more.
 */
export function rangeDefault(field, type = field.kind === "integer" ? "int" : "float") {
  const int = type === "int";
  const { min, minOpen, max, maxOpen } = limitsOf(field.schema);
  const start = typeof field.default === "number" ? field.default : (min ?? 0);
  let [low, high] = [min, max];
  if (min === undefined || max === undefined || (int && max - min > 64)) {
    low = start > 0 ? (int ? Math.floor(start / 2) : start / 10) : (min ?? start - 1);
    high = start > 0 ? start * (int ? 2 : 10) : (max ?? start + 1);
    if (min !== undefined) low = Math.max(low, min);
    if (max !== undefined) high = Math.min(high, max);
  }
  const span = high - low || 1;
  if (minOpen && low <= min) low = int ? min + 1 : min + span / 10;
  if (maxOpen && high >= max) high = int ? max - 1 : max - span / 10;
  [low, high] = int ? [Math.ceil(low), Math.floor(high)] : [Number(low.toPrecision(6)), Number(high.toPrecision(6))];
  if (high < low) high = low;
  return { type, low, high, log: !int && low > 0 && high / low >= 100, step: null };
}

/** Choices that fit the setting: an enum's values, true and false, a number's default with
 * the ends of its default range, or its default. */
export function choicesDefault(field) {
  if (field.kind === "enum") return [...field.choices];
  if (field.kind === "boolean") return [true, false];
  if (field.kind === "integer" || field.kind === "number") {
    const { low, high } = rangeDefault(field);
    if (field.kind === "integer" && high - low <= 8) return Array.from({ length: high - low + 1 }, (_, i) => low + i);
    const middle = typeof field.default === "number" ? field.default : (low + high) / 2;
    return [...new Set([low, middle, high])].sort((a, b) => a - b);
  }
  return field.default === undefined || field.default === null ? [] : [field.default];
}

function entryOf(field, type) {
  return type === "categorical" ? { type, choices: choicesDefault(field) } : rangeDefault(field, type);
}

// ---- reading and checking ---------------------------------------------------------------------

function parseNumber(text, int) {
  const trimmed = String(text).trim();
  if (!NUMBER.test(trimmed)) throw new Error(trimmed ? `must be a number, got "${trimmed}"` : "required");
  const value = Number(trimmed);
  if (!Number.isFinite(value)) throw new Error(`must be a finite number, got "${trimmed}"`);
  if (int && !Number.isInteger(value)) throw new Error(`must be a whole number, got ${trimmed}`);
  return value;
}

/** Why `value` is outside the setting's limits ("" when inside). */
function limitProblem(value, schema) {
  const { min, minOpen, max, maxOpen } = limitsOf(schema);
  if (min !== undefined && (minOpen ? value <= min : value < min)) return `must be ${minOpen ? ">" : "≥"} ${min} (the setting's limit), got ${value}`;
  if (max !== undefined && (maxOpen ? value >= max : value > max)) return `must be ${maxOpen ? "<" : "≤"} ${max} (the setting's limit), got ${value}`;
  return "";
}

/** One choice typed as the setting's values. */
function parseChoice(text, field) {
  if (field.kind === "integer" || field.kind === "number") {
    const value = parseNumber(text, field.kind === "integer");
    const problem = limitProblem(value, field.schema);
    if (problem) throw new Error(problem);
    return value;
  }
  if (field.kind === "boolean") {
    if (["true", "false"].includes(text.toLowerCase())) return text.toLowerCase() === "true";
    throw new Error(`a choice is true or false, got "${text}"`);
  }
  if (field.kind === "enum") {
    const match = field.choices.find((choice) => String(choice) === text);
    if (match === undefined) throw new Error(`"${text}" is not one of ${field.choices.map(String).join(", ")}`);
    return match;
  }
  return text;
}

function choicesText(choices) {
  return choices.map((choice) => (typeof choice === "string" ? choice : JSON.stringify(choice))).join(", ");
}

/** A range row's entry from its inputs, or the problems by part. */
function readRange(row, field) {
  const int = row.type === "int";
  const problems = {};
  const entry = { type: row.type, log: row.inputs.log.checked };
  for (const part of ["low", "high"]) {
    try {
      entry[part] = parseNumber(row.inputs[part].value, int);
      const problem = limitProblem(entry[part], field.schema);
      if (problem) problems[part] = problem;
    } catch (error) {
      problems[part] = error.message;
    }
  }
  const stepText = row.inputs.step.value.trim();
  if (stepText) {
    try {
      entry.step = parseNumber(stepText, int);
      if (entry.step <= 0) problems.step = `must be above 0, got ${entry.step}`;
    } catch (error) {
      problems.step = error.message;
    }
  }
  if (problems.low || problems.high) return { entry, problems };
  if (entry.low > entry.high) problems.high = `must be at least low (${number(entry.low, 6)}), got ${number(entry.high, 6)}`;
  else if (entry.log && entry.low <= 0) problems.low = `must be above 0 on a log scale, got ${entry.low}`;
  else if (entry.log && entry.step !== undefined) problems.step = "cannot be combined with log";
  return { entry, problems };
}

function readChoices(row, field) {
  const parts = row.inputs.choices.value.split(",").map((part) => part.trim()).filter((part) => part !== "");
  if (!parts.length) return { entry: null, problems: { choices: "give at least one value (comma-separated)" } };
  try {
    return { entry: { type: "categorical", choices: parts.map((part) => parseChoice(part, field)) }, problems: {} };
  } catch (error) {
    return { entry: null, problems: { choices: error.message } };
  }
}

// ---- drawing ------------------------------------------------------------------------------------

function part(label, input, row, key, extraClass = "") {
  const error = h("div", { class: "field-error", role: "alert" });
  row.errors[key] = error;
  return h("div", { class: `field ${extraClass}`.trim(), dataset: { part: key } }, h("label", {}, label, input), error);
}

/**
 * The editor over `fields` (the config's, from `fieldsOf`). Returns `{element, read(),
 * showErrors(details), clearErrors(), focusFirstError(), add(name)}`; `read()` gives
 * `{space, errors}` (errors: a list of "setting.part: message"). `onChange(names)` hears
 * which settings are searched. A setting is searched by one row at most: the others offer
 * it disabled.
 */
export function spaceEditor(fields, { onChange = () => {} } = {}) {
  const usable = searchable(fields);
  const rows = [];
  let counter = 0;
  const list = h("div", { class: "studies-space", id: "space-rows" });
  const general = h("div", { class: "field-error", id: "space-error", role: "alert" });
  const addButton = h("button", { type: "button", id: "space-add", onclick: () => add() }, "+ Add a setting");
  const element = h("div", {}, list, general, h("div", { class: "row" }, addButton,
    h("span", { class: "small muted" }, "Ranges search floats or ints (log: evenly on a log scale; step: only multiples); choices are comma-separated.")));

  function fieldOf(name) {
    return usable.find((field) => field.path === name);
  }

  function add(name) {
    const taken = new Set(rows.map((row) => row.name));
    const free = usable.filter((f) => !taken.has(f.path));
    // Floats first (a learning rate is the usual first search), then other numbers.
    const field = fieldOf(name) || free.find((f) => f.kind === "number") || free.find((f) => f.kind === "integer") || free[0];
    if (!field) return;
    const row = { id: counter++, errors: {}, inputs: {} };
    row.element = h("div", { class: "studies-space-row", id: `space-row-${row.id}` });
    rows.push(row);
    list.append(row.element);
    setSetting(row, field.path);
    changed();
    row.inputs.name.focus();
  }

  function remove(row) {
    rows.splice(rows.indexOf(row), 1);
    row.element.remove();
    changed();
  }

  function changed() {
    addButton.disabled = rows.length >= usable.length;
    const taken = new Set(rows.map((row) => row.name));
    for (const row of rows) {
      for (const option of row.inputs.name.options) option.disabled = option.value !== row.name && taken.has(option.value);
    }
    onChange(rows.map((row) => row.name));
  }

  function setSetting(row, name, type) {
    const field = fieldOf(name);
    row.name = name;
    row.type = typesOf(field).includes(type) ? type : typesOf(field)[0];
    row.errors = {};
    const entry = entryOf(field, row.type);
    const nameSelect = h("select", { name: "setting", "aria-label": "Setting", onchange: (e) => { setSetting(row, e.target.value); changed(); } },
      usable.map((f) => h("option", { value: f.path, selected: f.path === name }, f.path))); // disabled by changed()
    const typeSelect = h("select", { name: "type", "aria-label": "Type", onchange: (e) => { setSetting(row, name, e.target.value); changed(); } },
      typesOf(field).map((t) => h("option", { value: t, selected: t === row.type }, t)));
    row.inputs = { name: nameSelect, type: typeSelect };
    const parts = [part("Setting", nameSelect, row, "setting", "studies-space-name"), part("Type", typeSelect, row, "type", "studies-space-type")];
    if (row.type === "categorical") {
      row.inputs.choices = h("input", { type: "text", name: "choices", value: choicesText(entry.choices), autocomplete: "off", spellcheck: "false",
        placeholder: field.kind === "enum" ? field.choices.join(", ") : "values, comma-separated" });
      parts.push(part("Choices", row.inputs.choices, row, "choices", "studies-space-choices"));
    } else {
      const mode = row.type === "int" ? "numeric" : "decimal";
      row.inputs.low = h("input", { type: "text", name: "low", inputmode: mode, value: String(entry.low), autocomplete: "off" });
      row.inputs.high = h("input", { type: "text", name: "high", inputmode: mode, value: String(entry.high), autocomplete: "off" });
      row.inputs.step = h("input", { type: "text", name: "step", inputmode: mode, value: "", placeholder: row.type === "int" ? "1" : "none", autocomplete: "off" });
      row.inputs.log = h("input", { type: "checkbox", name: "log", checked: entry.log });
      parts.push(part("Low", row.inputs.low, row, "low"), part("High", row.inputs.high, row, "high"), part("Step", row.inputs.step, row, "step"),
        part("Log", row.inputs.log, row, "log", "studies-space-log"));
    }
    const help = [field.description, limitsHelp(field.schema)].filter(Boolean).join(" ");
    fill(row.element, parts,
      h("button", { type: "button", class: "link studies-space-remove", title: `Stop searching ${name}`, "aria-label": `Remove ${name}`, onclick: () => remove(row) }, "✕"),
      h("div", { class: "help studies-space-help" }, help));
    row.element.dataset.setting = name;
  }

  function setError(row, key, message) {
    const box = row.errors[key] || row.errors.setting;
    box.textContent = message;
    box.parentElement.classList.toggle("invalid", Boolean(message));
  }

  function clearErrors() {
    general.textContent = "";
    for (const row of rows) for (const key of Object.keys(row.errors)) setError(row, key, "");
  }

  return {
    element,
    add,
    /** The space, and its problems; `grid`: every float range needs a step (the grid sampler
     * lists every value). */
    read({ grid = false } = {}) {
      clearErrors();
      const space = {};
      const errors = [];
      if (!rows.length) {
        general.textContent = "search at least one setting";
        errors.push("space: search at least one setting");
      }
      for (const row of rows) {
        const field = fieldOf(row.name);
        const { entry, problems } = row.type === "categorical" ? readChoices(row, field) : readRange(row, field);
        if (rows.find((other) => other.name === row.name) !== row) {
          problems.setting = `${row.name} is searched by another row already: choose another setting, or remove this row`;
        }
        if (grid && row.type === "float" && entry && entry.step === undefined && !problems.step) {
          problems.step = "the grid sampler needs finite choices: give this float range a step, or choices";
        }
        for (const [key, message] of Object.entries(problems)) {
          setError(row, key, message);
          errors.push(`${row.name}.${key}: ${message}`);
        }
        if (entry && !Object.keys(problems).length) space[row.name] = entry.type === "categorical" ? entry : { ...entry, step: entry.step ?? null };
      }
      return { space, errors };
    },
    /** Put the API's details under "space" on their rows; returns the messages none took. */
    showErrors(details) {
      const unplaced = [];
      for (const detail of details) {
        const [, name, key] = detail.loc.map(String);
        const row = rows.find((r) => r.name === name);
        if (row) setError(row, key, detail.msg);
        else if (!name) general.textContent = detail.msg;
        else unplaced.push(`space.${detail.loc.slice(1).join(".")}: ${detail.msg}`);
      }
      return unplaced;
    },
    clearErrors,
    focusFirstError() {
      const invalid = element.querySelector(".invalid input, .invalid select");
      if (invalid) invalid.focus();
    },
  };
}

function limitsHelp(schema) {
  const { min, minOpen, max, maxOpen } = limitsOf(schema);
  const parts = [];
  if (min !== undefined) parts.push(`${minOpen ? ">" : "≥"} ${min}`);
  if (max !== undefined) parts.push(`${maxOpen ? "<" : "≤"} ${max}`);
  return parts.length ? `(${parts.join(", ")})` : "";
}
