// What a run's page shows of its record: how far it got, the lease, timings and counters,
// and its test metrics beside their baselines.

import { FINISHED, ago, badge, duration, h, keyValues, metricDirection, number, time } from "../../ui.js";

/** The line under the progress bar: the last report while the run goes on; once it is over,
 * how it ended (a completed run is complete even when training stopped early). */
export function progressNote(run) {
  if (run.status === "queued") return "Waiting for a worker…";
  if (!FINISHED.has(run.status)) return run.progress_message;
  const training = run.result?.training;
  if (run.status === "completed") return training ? `Complete. ${training}` : "Complete.";
  const where = `Stopped at ${Math.round(run.progress * 100)}%${run.progress_message ? ` (${run.progress_message})` : ""}.`;
  return training ? `${where} ${training}` : where;
}

/** The run's status, worker, timings and counters as key/value rows; its lease and last
 * heartbeat only while it is queued or running (an ended run holds none: what they were then
 * says nothing of it now). */
export function runInfo(run) {
  const now = Date.now() / 1000;
  return keyValues([
    ["Status", badge(run.status)],
    ["Worker", run.worker || "—"],
    ...(FINISHED.has(run.status) ? [] : leaseRows(run.lease, now)),
    ["Attempts", String(run.attempts)],
    run.restarts ? ["Restarts", restartsText(run)] : null,
    run.not_before && run.status === "queued" ? ["Restarts at", time(run.not_before)] : null,
    ["Created", time(run.created_at)],
    ["Started", run.started_at ? `${time(run.started_at)} (waited ${duration(run.started_at - run.created_at)})` : "—"],
    ["Finished", time(run.finished_at)],
    ["Run time", run.started_at ? duration((run.finished_at || now) - run.started_at) : "—"],
    run.batch_id ? ["Batch", h("a", { href: `#/runs?batch_id=${run.batch_id}` }, run.batch_id)] : null,
    run.seed !== null ? ["Seed", String(run.seed)] : null,
    run.cancel_requested_at ? ["Cancel requested", time(run.cancel_requested_at)] : null,
    run.result?.training ? ["Training", run.result.training] : null,
  ]);
}

function leaseRows(lease, now) {
  return [
    lease.owner ? ["Lease", `${lease.owner}, epoch ${lease.epoch}${lease.expires_at ? `, expires in ${duration(lease.expires_at - now)}` : ""}`] : ["Lease epoch", String(lease.epoch)],
    lease.heartbeat_at ? ["Last heartbeat", ago(lease.heartbeat_at)] : null,
  ];
}

/** How often and why the kernel restarted a long job: its count, then its newest restart. */
function restartsText(run) {
  const last = run.restart_history[run.restart_history.length - 1];
  return last ? `${run.restarts}; the last ${ago(last.at)}: ${last.reason}, ${last.detail}` : String(run.restarts);
}

/** The test metrics, the model's column first, each with the way it is better (lower for an
 * error, higher for R², skill or accuracy) and each baseline marked where the model beats it
 * (▲) or trails it (▼) that way; a legend says so, and the run's notes follow. */
export function scoresTable(run) {
  const entries = Object.entries(run.scores || {});
  if (!entries.length) {
    return h("p", { class: "muted" }, FINISHED.has(run.status) ? "This run recorded no test metrics." : "Scored on the test set when training ends.");
  }
  const columns = [];
  for (const [, values] of entries) for (const key of Object.keys(values)) if (!columns.includes(key)) columns.push(key);
  columns.sort((a, b) => (a === "model" ? -1 : b === "model" ? 1 : 0));
  const table = h("table", { id: "scores" },
    h("thead", {}, h("tr", {}, h("th", {}, "metric"), h("th", { title: "Which way the metric is better" }, "better"),
      columns.map((c) => h("th", { class: "num" }, c)))),
    h("tbody", {}, entries.map(([metric, values]) => h("tr", {}, h("td", {}, metric), directionCell(metric),
      columns.map((column) => scoreCell(metric, values, column))))));
  const baselines = columns.some((column) => column !== "model");
  const notes = (run.result?.notes || []).map((note) => h("li", {}, note));
  return [h("div", { class: "table-wrap" }, table), baselines ? scoresLegend() : null,
    notes.length ? h("ul", { class: "small muted" }, notes) : null];
}

function directionCell(metric) {
  const direction = metricDirection(metric);
  return h("td", { class: "small muted", dataset: { direction: direction || "" } }, direction || "—");
}

function scoresLegend() {
  return h("p", { class: "small muted", id: "scores-legend" }, "Beside a baseline's score: ",
    h("span", { class: "better" }, "▲"), " the model beats that baseline, ",
    h("span", { class: "worse" }, "▼"), " the baseline beats the model, by the metric's better way (lower for errors such as MAE, RMSE and MASE; higher for R², skill and accuracy). A metric whose way is not known, or a tie, is left unmarked.");
}

function scoreCell(metric, values, column) {
  const value = values[column];
  const model = values.model;
  const direction = metricDirection(metric);
  if (column === "model" || typeof value !== "number" || typeof model !== "number" || !direction || model === value) {
    return h("td", { class: "num" }, number(value));
  }
  const better = direction === "lower" ? model < value : model > value;
  const mark = better ? "better" : "worse";
  const verdict = better ? `the model (${number(model)}) beats ${column}` : `${column} beats the model (${number(model)})`;
  return h("td", { class: "num", dataset: { mark }, title: `${verdict}: ${direction} is better` },
    number(value), h("span", { class: `${mark} small` }, better ? " ▲" : " ▼"));
}
