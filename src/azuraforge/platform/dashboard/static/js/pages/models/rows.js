// Rows to predict from, read in the browser: CSV (a header line, then rows) or JSON (a list
// of objects), pasted or from a file. Values stay the text a file holds, so the API reads
// them exactly as it reads the same file (numbers included).

/** The API's caps (settings max_request_bytes and max_predict_rows, defaults). */
export const MAX_BODY_BYTES = 1_000_000;
export const MAX_ROWS = 10_000;
/** Rows a forecaster's request sends at most: the windows it needs plus some history. */
export const CHART_ROWS = 500;

/** Rows from text: JSON when it starts with `[` or `{`, else CSV. Throws a readable Error. */
export function parseRows(text) {
  const trimmed = text.trim();
  if (!trimmed) throw new Error("No rows: paste CSV (a header line, then one row a line) or JSON (a list of objects).");
  return /^[[{]/.test(trimmed) ? jsonRows(trimmed) : csvRows(trimmed);
}

function jsonRows(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`The JSON does not parse: ${error.message}. Expected a list of objects such as [{"TEMP": -4, ...}, ...].`);
  }
  const rows = Array.isArray(value) ? value : value?.rows;
  if (!Array.isArray(rows)) throw new Error('The JSON is not a list of objects (nor {"rows": [...]}); expected [{"column": value, ...}, ...].');
  const bad = rows.findIndex((row) => !row || typeof row !== "object" || Array.isArray(row));
  if (bad >= 0) throw new Error(`Item ${bad} of the JSON list is not an object of column: value.`);
  if (!rows.length) throw new Error("The JSON list is empty: send at least one row.");
  return rows;
}

/**
 * CSV text as objects of column: text (RFC 4180 quoting; blank lines skipped). The first
 * line names the columns unless every field of it reads as a number (784 grey levels, say):
 * then it is a row too and the columns are "1", "2"..., as the server reads such a file.
 */
export function csvRows(text) {
  const records = csvRecords(text).filter((record) => !(record.length === 1 && record[0] === ""));
  const headless = records.length > 0 && records[0].every((field) => field.trim() !== "" && Number.isFinite(Number(field)));
  if (records.length < (headless ? 1 : 2)) throw new Error("The CSV has no data row: the first line names the columns, each next line is a row.");
  const [header, ...data] = headless ? [records[0].map((_, i) => String(i + 1)), ...records] : records;
  const names = header.map((name) => name.trim());
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate !== undefined) throw new Error(`The CSV header names column "${duplicate}" twice.`);
  return data.map((record, index) => {
    if (record.length !== names.length) {
      throw new Error(`CSV line ${index + (headless ? 1 : 2)} has ${record.length} fields, the header ${names.length} (${names.slice(0, 6).join(", ")}${names.length > 6 ? ", …" : ""}).`);
    }
    return Object.fromEntries(names.map((name, i) => [name, record[i]]));
  });
}

function csvRecords(text) {
  const records = [];
  let record = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ",") {
      record.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      record.push(field);
      records.push(record);
      record = [];
      field = "";
    } else {
      field += c;
    }
  }
  if (quoted) throw new Error("The CSV ends inside a quoted field: a closing \" is missing.");
  record.push(field);
  records.push(record);
  return records;
}

/**
 * What a model needs from `config` (a version's saved config): forecasters read windows of
 * `sequence_length` rows and forecast `horizon` steps ahead; others predict row by row.
 */
export function needs(config) {
  const length = Number(config?.sequence_length);
  const horizon = Number(config?.horizon);
  if (!Number.isInteger(length) || !Number.isInteger(horizon)) return { forecaster: false };
  return { forecaster: true, length, horizon };
}

/** The fewest rows a forecaster's request needs: one window, or for `ahead` future times the
 * window ending `horizon - 1` rows before the last (plus a row for changes-based features). */
export function fewestRows(need, ahead) {
  return need.length + (ahead ? need.horizon - 1 : 0) + 1;
}

/**
 * The rows to send and a note saying what was left out. A forecaster gets the last
 * CHART_ROWS rows (at least the fewest it needs: the series' end is what it forecasts
 * from), other models their first MAX_ROWS; then rows are left out (a forecaster's oldest,
 * another model's last) until the JSON body fits the API's limit. Throws a readable Error
 * when even the fewest rows do not fit.
 */
export function rowsToSend(rows, need, ahead) {
  const fewest = need.forecaster ? fewestRows(need, ahead) : 1;
  let sent = need.forecaster ? rows.slice(-Math.max(CHART_ROWS, fewest)) : rows.slice(0, MAX_ROWS);
  // Cut by the share of the body's bytes over the limit until it fits: rows of unequal
  // lengths (a long text in a few) may need a second cut.
  for (let size = bodyBytes(sent); size > MAX_BODY_BYTES; size = bodyBytes(sent)) {
    const fits = Math.min(sent.length - 1, Math.floor((sent.length * MAX_BODY_BYTES * 0.95) / size));
    if (fits < fewest) {
      throw new Error(`${fewest.toLocaleString("en-US")} row(s) of these make a request over the API's ${(MAX_BODY_BYTES / 1e6).toFixed(0)} MB limit; put the file in the project's data folder and run "azuraforge models predict" on it.`);
    }
    sent = need.forecaster ? sent.slice(sent.length - fits) : sent.slice(0, fits);
  }
  if (sent.length === rows.length) return { rows: sent, note: "" };
  const count = `${sent.length.toLocaleString("en-US")} of ${rows.length.toLocaleString("en-US")} rows`;
  const note = need.forecaster
    ? `Sending the last ${count}: the model reads windows of ${need.length} rows${ahead ? " and forecasts from the series' end" : ""}; the chart shows the history sent.`
    : `Sending the first ${count}: a request takes at most ${MAX_ROWS.toLocaleString("en-US")} rows and ${(MAX_BODY_BYTES / 1e6).toFixed(0)} MB; send the rest in another request.`;
  return { rows: sent, note };
}

/**
 * The bytes of a request sending `rows`: their JSON in UTF-8, as the API counts them (a
 * string's length counts UTF-16 units: "é" is 1 of them and 2 bytes, "日" 1 and 3), plus
 * room for the body's other fields (horizon, history).
 */
export function bodyBytes(rows) {
  return new TextEncoder().encode(JSON.stringify({ rows })).length + 200;
}

/** Columns of equal length ({name: [...]}) as CSV text, for a download. */
export function columnsCsv(columns) {
  const names = Object.keys(columns);
  const count = names.length ? columns[names[0]].length : 0;
  const cell = (value) => {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const lines = [names.map(cell).join(",")];
  for (let i = 0; i < count; i += 1) lines.push(names.map((name) => cell(columns[name][i])).join(","));
  return `${lines.join("\n")}\n`;
}
