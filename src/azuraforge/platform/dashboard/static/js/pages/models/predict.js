// The predict panel: a reference (name, name@alias, name/N), rows pasted (CSV or JSON) or
// from a CSV file read in the browser, a horizon for forecasters; Predict answers at once
// with a table and a chart of the forecast against the history it continues, "Run as job"
// queues an asynchronous prediction job (listed below it, with Cancel).

import { api } from "../../api.js";
import { csvLink } from "../../csvlink.js";
import { draw, PALETTE, plotText, release } from "../../charts.js";
import { debounce, errorBox, fill, h, loading } from "../../ui.js";
import { jobsList } from "./jobs.js";
import { BY_NUMBER, columnsTable, field, references, refPath, versionNumber } from "./shared.js";
import { columnsCsv, csvRows, fewestRows, needs, parseRows, rowsToSend } from "./rows.js";

const SHOWN_ROWS = 200;

export function predictCard(model) {
  let need = { forecaster: false };
  let version = null;
  let fileRows = null;
  let downloadUrl = null;
  let busy = false;

  const refSelect = h("select", { id: "predict-ref", "aria-label": "Model reference", onchange: () => chooseRef() });
  const chooseLater = debounce(() => chooseRef(), 250);
  const numberInput = h("input", { id: "predict-version", type: "number", min: "1", step: "1", inputmode: "numeric", "aria-label": "Version number", hidden: true, oninput: chooseLater });
  const needsLine = h("div", { class: "help", id: "predict-needs" });
  const horizonInput = h("input", { id: "predict-horizon", type: "number", min: "1", step: "1", inputmode: "numeric", placeholder: "every window" });
  const horizonField = field("Horizon", horizonInput, "Empty: a forecast from every window of the rows (drawn over their history). 1 to the model's horizon: the next times after the last row.");
  const pasteMode = h("input", { type: "radio", name: "predict-source", value: "paste", checked: true, onchange: showMode });
  const fileMode = h("input", { type: "radio", name: "predict-source", value: "file", onchange: showMode });
  const textarea = h("textarea", { id: "predict-rows", rows: "8", spellcheck: "false", placeholder: "CSV: a header line, then one row a line\nyear,month,day,hour,pm2.5,DEWP,TEMP,PRES,cbwd,Iws,Is,Ir\n2014,12,31,0,20,-19,-4,1031,NW,5.8,0,0\n…\nor JSON: [{\"year\": 2014, …}, …]" });
  const fileInput = h("input", { id: "predict-file", type: "file", accept: ".csv,text/csv", onchange: readFile });
  const fileInfo = h("div", { class: "help" }, "The file is read here, in the browser; only the rows the model needs are sent.");
  const pasteBox = h("div", { class: "field" }, h("label", { for: "predict-rows" }, "Rows"), textarea);
  const fileBox = h("div", { class: "field", hidden: true }, h("label", { for: "predict-file" }, "CSV file"), fileInput, fileInfo);
  const predictButton = h("button", { type: "submit", class: "primary", id: "predict-button" }, "Predict");
  const jobButton = h("button", { type: "button", id: "predict-job", onclick: submitJob, title: "Queue an asynchronous prediction job; follow it below" }, "Run as job");
  const noteArea = h("div", { class: "muted small", id: "predict-note" });
  const errorArea = h("div", { id: "predict-error" });
  const resultArea = h("div", { id: "predict-result" });
  const jobs = jobsList(model);

  const form = h("form", { class: "models-predict-form", onsubmit: (event) => { event.preventDefault(); predict(); } },
    h("div", { class: "form-grid" },
      h("div", { class: "field" }, h("label", { for: "predict-ref" }, "Reference"), h("div", { class: "row" }, refSelect, numberInput), needsLine),
      horizonField),
    h("div", { class: "row models-source", role: "radiogroup", "aria-label": "Where the rows come from" },
      h("label", {}, pasteMode, " Paste CSV or JSON"), h("label", {}, fileMode, " Upload a CSV file")),
    pasteBox, fileBox,
    h("div", { class: "form-actions" }, predictButton, jobButton, noteArea));
  const element = h("section", { class: "card", id: "predict" },
    h("h2", {}, "Predict"), form, errorArea, resultArea,
    h("div", { class: "toolbar" }, h("h3", { class: "inline" }, "Prediction jobs"), h("span", { class: "spacer" }),
      csvLink(`${model.path}/predictions`, { id: "jobs-csv", filename: `${model.name}-predictions.csv`, title: "Every prediction job of the model, as CSV" })),
    jobs.element);

  function showMode() {
    pasteBox.hidden = !pasteMode.checked;
    fileBox.hidden = pasteMode.checked;
  }

  async function readFile() {
    const file = fileInput.files[0];
    fileRows = null;
    if (!file) return;
    fill(fileInfo, `Reading ${file.name}…`);
    try {
      fileRows = csvRows(await file.text());
      const names = Object.keys(fileRows[0]);
      const shownNames = names.length > 8 ? `${names.slice(0, 8).join(", ")}, … (${names.length} columns)` : names.join(", ");
      fill(fileInfo, `${file.name}: ${fileRows.length.toLocaleString("en-US")} rows, columns ${shownNames}.`);
      fill(errorArea);
    } catch (error) {
      fill(fileInfo, "");
      fill(errorArea, errorBox(error, `${file.name} could not be read`));
    }
  }

  function update() {
    const chosen = refSelect.value;
    const options = references(model.record);
    fill(refSelect, options.map((option) => h("option", { value: option.ref }, option.label)));
    if (!numberInput.value && model.record.latest_version) numberInput.value = String(model.record.latest_version);
    numberInput.max = String(model.record.latest_version || "");
    if (!options.length) {
      fill(needsLine, "Register a version first.");
      predictButton.disabled = jobButton.disabled = true;
      return;
    }
    predictButton.disabled = jobButton.disabled = false;
    const aliases = model.record.aliases;
    const preferred = aliases.champion !== undefined ? `${model.name}@champion` : model.name;
    refSelect.value = options.some((o) => o.ref === chosen) ? chosen : preferred;
    chooseRef();
    jobs.load();
  }

  /** The reference chosen: an option's, or name/N with the number typed (null: none yet). */
  function currentRef() {
    if (refSelect.value !== BY_NUMBER) return refSelect.value;
    const number = versionNumber(numberInput.value);
    return number === null ? null : `${model.name}/${number}`;
  }

  async function chooseRef() {
    const option = references(model.record).find((o) => o.ref === refSelect.value);
    if (!option) return;
    numberInput.hidden = option.ref !== BY_NUMBER;
    const ref = currentRef();
    if (ref === null) {
      fill(needsLine, "Type a version number (1, 2…).");
      return;
    }
    const number = option.version ?? versionNumber(numberInput.value);
    let chosen;
    try {
      chosen = await model.version(number);
    } catch (error) {
      if (currentRef() === ref) fill(needsLine, `Version ${number} could not be read: ${error.message}`);
      return;
    }
    if (currentRef() !== ref) return; // another reference was chosen meanwhile
    version = chosen;
    need = needs(version.config);
    horizonField.hidden = !need.forecaster;
    if (need.forecaster) {
      horizonInput.max = String(need.horizon);
      fill(needsLine, `v${version.version} · ${version.pipeline}: reads windows of ${need.length} rows, forecasts ${need.horizon} step(s) ahead (horizon 1–${need.horizon}; that needs ${fewestRows(need, true) - 1}+ rows).`);
    } else {
      fill(needsLine, `v${version.version} · ${version.pipeline}: one prediction per row.`);
    }
  }

  /** The request's rows and horizon, and a note on rows left out; throws a readable Error. */
  function request() {
    if (currentRef() === null) throw new Error(`The version must be a whole number from 1 (the latest is ${model.record.latest_version}), got "${numberInput.value}".`);
    const rows = fileMode.checked ? fileRows : parseRows(textarea.value);
    if (!rows) throw new Error("Choose a CSV file first.");
    const text = horizonInput.value.trim();
    const horizon = need.forecaster && text ? Number(text) : null;
    if (horizon !== null && (!Number.isInteger(horizon) || horizon < 1 || horizon > need.horizon)) {
      throw new Error(`The horizon must be a whole number from 1 to ${need.horizon} (this model forecasts ${need.horizon} step(s) ahead), got "${text}"; leave it empty for a forecast from every window.`);
    }
    const { rows: sent, note } = rowsToSend(rows, need, horizon !== null);
    return { body: horizon === null ? { rows: sent } : { rows: sent, horizon }, note, total: rows.length };
  }

  /** Read the rows, then `send(asked)`; an error of either is shown under the form. */
  async function withRows(failed, send) {
    if (busy) return;
    let asked;
    try {
      asked = request();
    } catch (error) {
      fill(errorArea, errorBox(error, "Nothing was sent"));
      return;
    }
    setBusy(true, asked.note);
    try {
      await send(asked);
      fill(errorArea);
    } catch (error) {
      fill(errorArea, errorBox(error, failed(error)));
    } finally {
      setBusy(false, asked.note);
    }
  }

  function predict() {
    const ref = currentRef();
    const failed = (error) => (error.status === 422 ? `${ref} could not predict from these rows` : "The prediction failed");
    return withRows(failed, async (asked) => {
      release(resultArea);
      fill(resultArea, loading(`Predicting with ${ref}…`));
      try {
        showAnswer(await api.post(`/models/${refPath(ref)}/predict`, { ...asked.body, history: true }), asked);
      } catch (error) {
        fill(resultArea);
        throw error;
      }
    });
  }

  function submitJob() {
    return withRows(() => "The prediction job was not submitted", async (asked) => {
      jobs.add(await api.post(`/models/${refPath(currentRef())}/predictions`, asked.body));
    });
  }

  function setBusy(on, note) {
    busy = on;
    predictButton.disabled = jobButton.disabled = on;
    predictButton.textContent = on ? "Working…" : "Predict";
    fill(noteArea, note || "");
  }

  function showAnswer(answer, asked) {
    const columns = answer.predictions;
    const chart = h("div", { class: "chart tall", id: "predict-chart" });
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([columnsCsv(columns)], { type: "text/csv" }));
    const drawable = Array.isArray(columns.time) && Array.isArray(columns.forecast);
    fill(resultArea,
      h("p", { class: "models-summary", id: "predict-summary" },
        h("strong", {}, `${answer.model} v${answer.version}`), ` (${answer.reference}): ${answer.rows.toLocaleString("en-US")} prediction${answer.rows === 1 ? "" : "s"} from ${asked.body.rows.length.toLocaleString("en-US")} rows sent. `,
        h("a", { href: downloadUrl, download: `${answer.model}-v${answer.version}-predictions.csv` }, "Download CSV")),
      drawable ? chart : h("p", { class: "muted small" }, "No chart: these predictions are not a forecast over time."),
      predictionsTable(columns));
    if (drawable) drawForecast(chart, columns, answer.history);
  }

  return {
    element, update,
    stop() {
      chooseLater.cancel();
      jobs.stop();
      release(resultArea);
      if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    },
  };
}

/** Plotly reads "2014-12-31 05:00"; the API writes hours as "2014-12-31T05". */
function plotTime(text) {
  return typeof text === "string" ? text.replace(/^(\d{4}-\d\d-\d\d)T(\d\d)$/, "$1 $2:00").replace("T", " ") : text;
}

// Plotly reads names and titles as a subset of HTML: the target's name (a column of the
// user's file) goes through plotText. No hovertemplate here, where "%{...}" would be read too.
function drawForecast(element, columns, history) {
  const data = [];
  const shapes = [];
  if (history && history.time.length) {
    data.push({
      type: "scatter", mode: history.time.length > 60 ? "lines" : "lines+markers", name: plotText(`${history.target} (history)`),
      x: history.time.map(plotTime), y: history.value, line: { color: "#5d6d7e", width: 1.6 }, marker: { size: 4 }, connectgaps: false,
    });
    const last = plotTime(history.time[history.time.length - 1]);
    shapes.push({ type: "line", xref: "x", yref: "paper", x0: last, x1: last, y0: 0, y1: 1, line: { color: "#9aa3b2", dash: "dot", width: 1 } });
  }
  data.push({
    type: "scatter", mode: columns.time.length > 60 ? "lines" : "lines+markers", name: "forecast",
    x: columns.time.map(plotTime), y: columns.forecast, line: { color: PALETTE[1], width: 2 }, marker: { size: 6 },
  });
  // No title: the legend names both lines, and a title would cover it on a narrow window.
  draw(element, data, {
    shapes,
    annotations: shapes.length ? [{ x: shapes[0].x0, y: 1, xref: "x", yref: "paper", text: "last row", showarrow: false, xanchor: "right", yanchor: "bottom", font: { size: 10, color: "#626b7c" } }] : [],
    yaxis: { title: { text: plotText(history?.target || "forecast") }, gridcolor: "#edf0f4", automargin: true },
  }).catch((error) => fill(element, errorBox(error, "The chart could not be drawn")));
}

function predictionsTable(columns) {
  const count = Object.values(columns)[0]?.length || 0;
  return [
    columnsTable(columns, SHOWN_ROWS, { id: "predict-table", class: "table-wrap models-predictions" }),
    count > SHOWN_ROWS ? h("p", { class: "muted small" }, `The first ${SHOWN_ROWS} of ${count.toLocaleString("en-US")} predictions; the CSV has them all.`) : null,
  ];
}
