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

/** The run's status, worker, lease, timings and counters as key/value rows. */
export function runInfo(run) {
  const lease = run.lease;
  const now = Date.now() / 1000;
  return keyValues([
    ["Status", badge(run.status)],
    ["Worker", run.worker || "—"],
    lease.owner ? ["Lease", `${lease.owner}, epoch ${lease.epoch}${lease.expires_at && !FINISHED.has(run.status) ? `, expires in ${duration(lease.expires_at - now)}` : ""}`] : ["Lease epoch", String(lease.epoch)],
    lease.heartbeat_at ? ["Last heartbeat", ago(lease.heartbeat_at)] : null,
    ["Attempts", String(run.attempts)],
    run.restarts ? ["Restarts", restartsText(run)] : null,
    run.not_before && run.status === "queued" ? ["Restarts at", time(run.not_before)] : null,
    ["Created", time(run.created_at)],
    ["Started", run.started_at ? `${time(run.started_at)} (waited ${duration(run.started_at - run.created_at)})` : "—"],
    ["Finished", time(run.finished_at)],
    ["Run time", run.started_at ? duration((run.finished_at || now) - run.started_at) : "—"],
    run.batch_id ? ["Batch", h("a", { href: `#/experiments?batch_id=${run.batch_id}` }, run.batch_id)] : null,
    run.seed !== null ? ["Seed", String(run.seed)] : null,
    run.cancel_requested_at ? ["Cancel requested", time(run.cancel_requested_at)] : null,
    run.result?.training ? ["Training", run.result.training] : null,
  ]);
}

/** How often and why the kernel restarted a long job: its count, then its newest restart. */
function restartsText(run) {
  const last = run.restart_history[run.restart_history.length - 1];
  return last ? `${run.restarts}; the last ${ago(last.at)}: ${last.reason}, ${last.detail}` : String(run.restarts);
}

/** The test metrics, the model's column first, each baseline marked where the model beats
 * it (▲) or trails it (▼); the run's notes under them. */
export function scoresTable(run) {
  const entries = Object.entries(run.scores || {});
  if (!entries.length) {
    return h("p", { class: "muted" }, FINISHED.has(run.status) ? "This run recorded no test metrics." : "Scored on the test set when training ends.");
  }
  const columns = [];
  for (const [, values] of entries) for (const key of Object.keys(values)) if (!columns.includes(key)) columns.push(key);
  columns.sort((a, b) => (a === "model" ? -1 : b === "model" ? 1 : 0));
  const table = h("table", { id: "scores" },
    h("thead", {}, h("tr", {}, h("th", {}, "metric"), columns.map((c) => h("th", { class: "num" }, c)))),
    h("tbody", {}, entries.map(([metric, values]) => h("tr", {}, h("td", {}, metric), columns.map((column) => scoreCell(metric, values, column))))));
  const notes = (run.result?.notes || []).map((note) => h("li", {}, note));
  return [h("div", { class: "table-wrap" }, table), notes.length ? h("ul", { class: "small muted" }, notes) : null];
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
  return h("td", { class: "num", title: `the model is ${mark} than ${column} (${direction} is better)` },
    number(value), h("span", { class: `${mark} small` }, better ? " ▲" : " ▼"));
}
