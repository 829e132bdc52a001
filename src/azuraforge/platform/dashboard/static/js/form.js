// A form generated from a pipeline config's JSON Schema (as Pydantic writes it): one field per
// property with its type, default, choices, help text and limits; nested models as groups.
// It checks what it can before anything is sent and shows the API's 422 messages on the
// field they name. A "grid" switch on a top-level field turns its value into a list of
// values: one run per combination.

import { h } from "./ui.js";

const SCALARS = new Set(["integer", "number", "string", "boolean", "enum"]);

/** The schema `node` points to, following `$ref` and Pydantic's `allOf: [{$ref}]`. */
function resolve(node, root) {
  let current = node || {};
  for (let depth = 0; depth < 20; depth += 1) {
    if (current.$ref) {
      const name = current.$ref.split("/").pop();
      const target = (root.$defs || root.definitions || {})[name] || {};
      const { $ref, ...rest } = current;
      current = { ...target, ...rest };
    } else if (Array.isArray(current.allOf) && current.allOf.length === 1) {
      const { allOf, ...rest } = current;
      current = { ...resolve(allOf[0], root), ...rest };
    } else {
      return current;
    }
  }
  return current;
}

/** What one property is: its kind (integer, number, string, boolean, enum, array, object or
 * json), whether null is allowed, its limits and, for an object, its own fields. */
export function describe(node, root, path, required = false) {
  let schema = resolve(node, root);
  let nullable = false;
  const variants = schema.anyOf || schema.oneOf;
  if (Array.isArray(variants)) {
    const others = variants.filter((v) => resolve(v, root).type !== "null");
    nullable = others.length < variants.length;
    if (others.length === 1) {
      const { anyOf, oneOf, ...rest } = schema;
      schema = { ...resolve(others[0], root), ...rest };
    } else {
      schema = { ...schema, type: "json" };
    }
  }
  if (Array.isArray(schema.type)) {
    nullable = nullable || schema.type.includes("null");
    const types = schema.type.filter((t) => t !== "null");
    schema = { ...schema, type: types.length === 1 ? types[0] : "json" };
  }
  let kind = schema.type || (schema.properties ? "object" : "json");
  if (kind === "object" && !schema.properties) kind = "json"; // a map of free keys: JSON text
  if (schema.enum || schema.const !== undefined) kind = "enum";
  if (kind === "array" && !SCALARS.has(resolve(schema.items, root).type || "json")) kind = "json";
  const field = {
    path, key: path.split(".").pop(), kind, nullable, required, schema,
    title: schema.title || path.split(".").pop(),
    description: schema.description || "",
    default: schema.default,
    choices: schema.enum || (schema.const !== undefined ? [schema.const] : null),
    items: kind === "array" ? resolve(schema.items, root) : null,
  };
  if (kind === "object") {
    const needed = new Set(schema.required || []);
    field.children = Object.entries(schema.properties || {}).map(([key, child]) =>
      describe(child, root, `${path}.${key}`, needed.has(key)));
  }
  return field;
}

/** The fields of a whole config schema. */
export function fieldsOf(schema) {
  const needed = new Set(schema.required || []);
  return Object.entries(schema.properties || {}).map(([key, node]) => describe(node, schema, key, needed.has(key)));
}

// ---- reading and checking values ------------------------------------------------------------

/** A typed value from the text `raw` for a scalar of `field`, or throws a readable Error. */
function parseScalar(raw, field, kind = field.kind, schema = field.schema) {
  const text = String(raw).trim();
  if (kind === "integer" || kind === "number") {
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`must be a number, got "${text}"`);
    const value = Number(text);
    if (!Number.isFinite(value)) throw new Error(`must be a finite number, got "${text}"`);
    if (kind === "integer" && !Number.isInteger(value)) throw new Error(`must be a whole number, got ${text}`);
    checkLimits(value, schema);
    return value;
  }
  if (kind === "boolean") {
    if (["true", "1", "yes", "on"].includes(text.toLowerCase())) return true;
    if (["false", "0", "no", "off"].includes(text.toLowerCase())) return false;
    throw new Error(`must be true or false, got "${text}"`);
  }
  if (kind === "enum") {
    const match = (field.choices || []).find((choice) => String(choice) === text);
    if (match === undefined) throw new Error(`must be one of ${field.choices.map(String).join(", ")}; got "${text}"`);
    return match;
  }
  checkText(text, schema);
  return text;
}

function checkLimits(value, schema) {
  if (schema.minimum !== undefined && value < schema.minimum) throw new Error(`must be ≥ ${schema.minimum}, got ${value}`);
  if (schema.maximum !== undefined && value > schema.maximum) throw new Error(`must be ≤ ${schema.maximum}, got ${value}`);
  if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) throw new Error(`must be > ${schema.exclusiveMinimum}, got ${value}`);
  if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) throw new Error(`must be < ${schema.exclusiveMaximum}, got ${value}`);
  if (schema.multipleOf && Math.abs(value / schema.multipleOf - Math.round(value / schema.multipleOf)) > 1e-9) throw new Error(`must be a multiple of ${schema.multipleOf}`);
}

function checkText(text, schema) {
  if (schema.minLength !== undefined && text.length < schema.minLength) throw new Error(`must have at least ${schema.minLength} characters`);
  if (schema.maxLength !== undefined && text.length > schema.maxLength) throw new Error(`must have at most ${schema.maxLength} characters`);
  if (schema.pattern && patternOf(schema.pattern)?.test(text) === false) throw new Error(`must match ${schema.pattern}`);
}

/** A JSON Schema pattern as a JavaScript RegExp; null for one JavaScript cannot read (a
 * Python-only construct such as `(?i)`): the server checks it then. */
function patternOf(pattern) {
  try {
    return new RegExp(pattern, "u");
  } catch {
    return null;
  }
}

/** Split "a, b, c" into items (a value may not hold a comma). */
function items(text) {
  return String(text).split(",").map((part) => part.trim()).filter((part) => part !== "");
}

/** The value of a field's input, checked; `undefined` when left empty and not required. */
function readField(field, input, gridded) {
  if (field.kind === "boolean" && !field.nullable && !gridded) return input.checked;
  const raw = input.value;
  if (gridded) {
    const values = items(raw).map((part) => parseScalar(part, field));
    if (values.length === 0) throw new Error("give at least one value (comma-separated)");
    return values;
  }
  if (String(raw).trim() === "" || raw === "__null__") {
    if (field.nullable) return null;
    if (field.required) throw new Error("required");
    if (field.kind === "string" && field.default === "") return "";
    return undefined;
  }
  if (field.kind === "array") {
    const values = items(raw).map((part) => parseScalar(part, field, field.items.enum ? "enum" : field.items.type, field.items));
    if (field.schema.minItems !== undefined && values.length < field.schema.minItems) throw new Error(`needs at least ${field.schema.minItems} values`);
    return values;
  }
  if (field.kind === "json") {
    try {
      return JSON.parse(raw);
    } catch {
      throw new Error("must be JSON (a number, \"text\", [a list] or {an: object})");
    }
  }
  return parseScalar(raw, field);
}

/** A value as the text its input shows. */
function asText(field, value) {
  if (value === undefined || value === null) return "";
  if (field.kind === "array") return value.map(String).join(", ");
  if (field.kind === "json") return JSON.stringify(value);
  return String(value);
}

// ---- drawing ----------------------------------------------------------------------------------

function inputFor(field, value) {
  const id = `field-${field.path}`;
  if (field.kind === "boolean" && !field.nullable) {
    return h("input", { type: "checkbox", id, name: field.path, checked: Boolean(value) });
  }
  if (field.kind === "enum" || (field.kind === "boolean" && field.nullable)) {
    const choices = field.kind === "boolean" ? [true, false] : field.choices;
    const options = choices.map((choice) => h("option", { value: String(choice), selected: value === choice }, String(choice)));
    if (field.nullable) options.unshift(h("option", { value: "__null__", selected: value === null || value === undefined }, "(none)"));
    return h("select", { id, name: field.path }, options);
  }
  if (field.kind === "json") {
    return h("textarea", { id, name: field.path, rows: "2", spellcheck: "false" }, asText(field, value));
  }
  const numeric = field.kind === "integer" || field.kind === "number";
  const placeholder = field.kind === "array" ? "comma-separated values" : field.nullable ? "empty: none" : field.schema.format === "path" ? "a file in the project's data folder" : "";
  return h("input", {
    type: "text", id, name: field.path, value: asText(field, value), placeholder,
    inputmode: numeric ? (field.kind === "integer" ? "numeric" : "decimal") : null, autocomplete: "off", spellcheck: "false",
  });
}

function limitsText(schema) {
  const parts = [];
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  if (schema.exclusiveMinimum !== undefined) parts.push(`> ${schema.exclusiveMinimum}`);
  if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`);
  if (schema.exclusiveMaximum !== undefined) parts.push(`< ${schema.exclusiveMaximum}`);
  return parts.join(", ");
}

/**
 * The form for `schema`. Returns `{element, read(), showErrors(details), clearErrors(),
 * focusFirstError()}`; `read()` gives `{config, grid, errors}` (errors by field path).
 * Options: `values` (initial config), `grid` (offer the grid switch), `onChange`, and
 * `filePicker(field, pick)`: an element drawn under each file setting's input (a string of
 * format "path"), whose `pick(name)` fills it.
 */
export function schemaForm(schema, { values = {}, grid = false, onChange = null, filePicker = null } = {}) {
  const fields = fieldsOf(schema);
  const controls = new Map(); // path -> {field, input, box, error, gridded}

  function valueAt(path) {
    return path.split(".").reduce((node, key) => (node && typeof node === "object" ? node[key] : undefined), values);
  }

  function drawField(field, topLevel) {
    if (field.kind === "object") {
      return h("fieldset", { dataset: { path: field.path } },
        h("legend", { title: field.description }, field.title),
        field.description ? h("div", { class: "help small muted" }, field.description) : null,
        h("div", { class: "form-grid" }, field.children.map((child) => drawField(child, false))));
    }
    const initial = valueAt(field.path);
    const value = initial === undefined ? field.default : initial;
    const entry = { field, input: inputFor(field, value), gridded: false };
    const error = h("div", { class: "field-error", id: `error-${field.path}`, role: "alert" });
    entry.input.setAttribute("aria-describedby", `error-${field.path}`);
    const toggle = grid && topLevel && SCALARS.has(field.kind)
      ? h("label", { class: "grid-toggle", title: "Try several values: one run per combination" },
        h("input", { type: "checkbox", "aria-label": `grid over ${field.title}`, dataset: { gridFor: field.path }, onchange: (event) => setGridded(entry, event.target.checked) }), "grid")
      : null;
    const picker = filePicker && field.kind === "string" && field.schema.format === "path"
      ? filePicker(field, (name) => {
        entry.input.value = name;
        check(entry);
        if (onChange) onChange();
      })
      : null;
    const limits = limitsText(field.schema);
    const help = [field.description, limits && `(${limits})`, field.default !== undefined && field.default !== null && field.kind !== "boolean" ? `default ${asText(field, field.default)}` : null].filter(Boolean).join(" ");
    entry.box = h("div", { class: "field", dataset: { path: field.path } },
      h("label", { for: `field-${field.path}` }, field.title, field.required ? h("span", { class: "required", title: "required" }, "*") : null, toggle),
      entry.input, picker, error, help ? h("div", { class: "help" }, help) : null);
    entry.error = error;
    entry.box.addEventListener("change", () => {
      check(entry);
      if (onChange) onChange();
    });
    if (onChange) entry.box.addEventListener("input", onChange);
    controls.set(field.path, entry);
    return entry.box;
  }

  function setGridded(entry, on) {
    const current = entry.gridded ? entry.input.value : entry.field.kind === "boolean" && !entry.field.nullable ? String(entry.input.checked) : entry.input.value;
    entry.gridded = on;
    const replacement = on
      ? h("input", { type: "text", id: `field-${entry.field.path}`, name: entry.field.path, value: current === "__null__" ? "" : current, placeholder: "values, comma-separated: 0.01, 0.001", autocomplete: "off" })
      : inputFor(entry.field, (() => { try { return parseScalar(items(current)[0] ?? "", entry.field); } catch { return entry.field.default; } })());
    replacement.setAttribute("aria-describedby", `error-${entry.field.path}`);
    entry.input.replaceWith(replacement);
    entry.input = replacement;
    entry.box.classList.toggle("gridded", on);
    setError(entry, "");
    replacement.focus();
  }

  function setError(entry, message) {
    entry.error.textContent = message;
    entry.box.classList.toggle("invalid", Boolean(message));
    entry.input.setAttribute("aria-invalid", message ? "true" : "false");
  }

  function check(entry) {
    try {
      const value = readField(entry.field, entry.input, entry.gridded);
      setError(entry, "");
      return { value };
    } catch (error) {
      setError(entry, error.message);
      return { error: error.message };
    }
  }

  const element = h("div", { class: "form-grid schema-form" }, fields.map((field) => drawField(field, true)));

  return {
    element,
    /** The config (nested as the schema), the grid's value lists and the problems found. */
    read() {
      const config = {};
      const gridValues = {};
      const errors = {};
      for (const [path, entry] of controls) {
        const { value, error } = check(entry);
        if (error) {
          errors[path] = error;
        } else if (entry.gridded) {
          gridValues[path] = value;
        } else if (value !== undefined) {
          const keys = path.split(".");
          let node = config;
          for (const key of keys.slice(0, -1)) node = node[key] ??= {};
          node[keys[keys.length - 1]] = value;
        }
      }
      return { config, grid: Object.keys(gridValues).length ? gridValues : null, errors };
    },
    /** Put the API's 422 details on their fields; returns the messages no field took. */
    showErrors(details) {
      const unplaced = [];
      for (const detail of details || []) {
        const loc = (detail.loc || []).map(String);
        if (loc[0] === "body") loc.shift(); // where the field is, not which field
        if (loc[0] === "config" || loc[0] === "grid") loc.shift();
        let entry = null;
        for (let length = loc.length; length > 0 && !entry; length -= 1) entry = controls.get(loc.slice(0, length).join("."));
        if (entry) setError(entry, detail.msg);
        else unplaced.push(loc.length ? `${loc.join(".")}: ${detail.msg}` : detail.msg);
      }
      return unplaced;
    },
    /** How many runs the grid makes (1 without one), counted without checking values. */
    gridSize() {
      return [...controls.values()].filter((entry) => entry.gridded).reduce((product, entry) => product * Math.max(1, items(entry.input.value).length), 1);
    },
    clearErrors() {
      for (const entry of controls.values()) setError(entry, "");
    },
    focusFirstError() {
      const first = [...controls.values()].find((entry) => entry.box.classList.contains("invalid"));
      if (first) first.input.focus();
    },
  };
}
