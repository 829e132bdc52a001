// The runs table: a row per run with its live status and progress, columns sortable
// by any field, by the last value of the metrics the page's runs logged, or by the scores
// chosen (the numbers of the runs' results).

import { badge, fill, h, number, progressBar, runTime, sortHeader, time } from "../../ui.js";

const MAX_METRIC_COLUMNS = 5;
const COLUMNS = [
  ["id", "ID", true],
  ["name", "Name", false],
  ["pipeline", "Pipeline", false],
  ["status", "Status", false],
  ["progress", "Progress", false],
  ["created_at", "Created", false],
];

/** Whether a group column is worth showing: some run's group (its MLflow experiment) is not
 * its pipeline, or the list is filtered by group. */
function showsGroups(runs, state) {
  return Boolean(state.group) || runs.some((run) => run.group && run.group !== run.pipeline);
}

/** The metrics the runs logged, the most common first. */
export function loggedKeys(runs) {
  const counts = new Map();
  for (const run of runs) for (const key of Object.keys(run.metrics)) counts.set(key, (counts.get(key) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([key]) => key);
}

/**
 * The metric columns: the filtered one, the sorted one, then the most common but the system
 * metrics (system/...: every run that lasts samples them, and they say little of its result).
 */
function metricColumns(state, keys) {
  const columns = [];
  if (state.metric) columns.push(state.metric);
  if (state.sort.startsWith("metric:") && !columns.includes(state.sort.slice(7))) columns.push(state.sort.slice(7));
  for (const key of keys) {
    if (columns.length < MAX_METRIC_COLUMNS && !columns.includes(key) && !key.startsWith("system/")) columns.push(key);
  }
  return columns;
}

/** The score columns: those chosen, and the one sorted by. */
function scoreColumns(state) {
  const sorted = state.sort.startsWith("score:") ? [state.sort.slice(6)] : [];
  return [...new Set([...state.columns, ...sorted])];
}

/**
 * Draw `runs` into `box`. `selected` is the set of chosen ids (`onSelect()` after a change),
 * `onSort(key)` sorts, `empty` is what an empty table says. Returns the rows by run id, each
 * `{run, update(message)}` for live events.
 */
export function drawTable(box, runs, state, { keys, selected, onSelect, onSort, empty, onGroup }) {
  const rows = new Map();
  const groups = showsGroups(runs, state) ? onGroup : null;
  const metrics = metricColumns(state, keys);
  const scores = scoreColumns(state);
  const all = h("input", { type: "checkbox", "aria-label": "Select all on this page", onchange: (e) => {
    for (const run of runs) e.target.checked ? selected.add(run.id) : selected.delete(run.id);
    for (const row of rows.values()) row.check(e.target.checked);
    onSelect();
  } });
  all.checked = runs.length > 0 && runs.every((run) => selected.has(run.id));
  const sorted = (key, label, numeric, title) => sortHeader(label, {
    active: state.sort === key, descending: state.order === "desc", numeric, onSort: () => onSort(key), title,
  });
  const header = h("tr", {}, h("th", {}, all),
    COLUMNS.map(([key, label, numeric]) => sorted(key, label, numeric, `Sort by ${label.toLowerCase()}`)),
    groups ? h("th", { title: "Its MLflow experiment, else its pipeline" }, "Group") : null,
    h("th", { class: "num" }, "Run time"),
    metrics.map((key) => sorted(`metric:${key}`, key, true, `Sort by the last ${key}`)),
    scores.map((name) => sorted(`score:${name}`, name, true, `Sort by the score ${name}`)));
  const body = h("tbody", {}, runs.map((run) => {
    const row = runRow(run, metrics, scores, selected, onSelect, groups);
    rows.set(run.id, row);
    return row.tr;
  }));
  if (!runs.length) body.append(h("tr", {}, h("td", { colspan: String(COLUMNS.length + metrics.length + scores.length + (groups ? 3 : 2)), class: "empty" }, empty)));
  fill(box, h("table", {}, h("thead", {}, header), body));
  return rows;
}

function runRow(run, metrics, scores, selected, onSelect, onGroup) {
  const box = h("input", { type: "checkbox", "aria-label": `Select run ${run.id}`, checked: selected.has(run.id), onchange: (e) => {
    e.target.checked ? selected.add(run.id) : selected.delete(run.id);
    tr.classList.toggle("selected", e.target.checked);
    onSelect();
  } });
  const bar = progressBar(run.progress);
  bar.update(run.progress, run.progress_message, run.status);
  const statusCell = h("td", { title: run.error || "" }, badge(run.status));
  const tr = h("tr", { class: selected.has(run.id) ? "selected" : "", dataset: { id: String(run.id) } },
    h("td", {}, box),
    h("td", { class: "num" }, h("a", { href: `#/runs/${run.id}` }, String(run.id))),
    h("td", { class: "name", title: run.name }, h("a", { href: `#/runs/${run.id}` }, run.name)),
    h("td", {}, run.pipeline),
    statusCell,
    h("td", {}, bar),
    h("td", { class: "nowrap small", title: time(run.created_at) }, time(run.created_at)),
    onGroup ? h("td", { class: "group" }, h("button", { class: "link", title: `Only the runs of ${run.group}`, onclick: () => onGroup(run.group) }, run.group)) : null,
    h("td", { class: "nowrap num" }, runTime(run)),
    metrics.map((key) => h("td", { class: "num" }, number(run.metrics[key]))),
    scores.map((name) => h("td", { class: "num", dataset: { score: name } }, number(run.score_values[name]))));
  return {
    tr,
    run,
    check(on) {
      box.checked = on;
      tr.classList.toggle("selected", on);
    },
    /** A `progress` or `status` event of the project's stream. */
    update(message) {
      if (message.type === "progress") {
        run.progress = message.progress;
      } else {
        run.status = message.status;
        if (message.status === "completed") run.progress = 1;
        fill(statusCell, badge(message.status));
      }
      bar.update(run.progress, message.message || "", run.status);
    },
  };
}
