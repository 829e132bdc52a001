// A model's prediction jobs: the latest ones (listed by the API, so they survive a reload),
// each queued or running job polled every second until it ends, Cancel while it runs, and
// once completed its first rows and the link to the whole CSV file.

import { api } from "../../api.js";
import { FINISHED, badge, duration, errorBox, fill, h, time, toast } from "../../ui.js";
import { columnsTable } from "./shared.js";

const LISTED = 20;
const FIRST_ROWS = 10;
const POLL_MS = 1000;

export function jobsList(model) {
  const jobs = new Map(); // id -> job, newest first once sorted
  const element = h("div", { id: "prediction-jobs" });
  const errorArea = h("div");
  const listBox = h("div", { class: "models-jobs" });
  element.append(errorArea, listBox);
  let timer = null;
  let polling = false;
  let total = 0;
  let stopped = false;

  async function load() {
    try {
      const page = await api.get(`${model.path}/predictions`, { limit: LISTED });
      total = page.total;
      for (const job of page.data) jobs.set(job.id, { ...jobs.get(job.id), ...job, predictions: jobs.get(job.id)?.predictions ?? null });
      fill(errorArea);
    } catch (error) {
      fill(errorArea, errorBox(error, "The prediction jobs could not be listed"));
    }
    draw();
    schedule();
  }

  function add(job) {
    jobs.set(job.id, job);
    total += 1;
    toast(`Prediction job ${job.id} queued.`, "ok");
    draw();
    schedule();
  }

  function schedule() {
    if (stopped) return; // the page was left while a request was out
    const active = [...jobs.values()].some((job) => !FINISHED.has(job.status));
    if (active && timer === null) timer = setInterval(poll, POLL_MS);
    if (!active && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  }

  async function poll() {
    if (polling) return; // a slow answer: skip a beat rather than pile requests up
    polling = true;
    const active = [...jobs.values()].filter((job) => !FINISHED.has(job.status));
    await Promise.all(active.map(async (job) => {
      try {
        jobs.set(job.id, await api.get(`${model.path}/predictions/${job.id}`, { limit: FIRST_ROWS }));
      } catch (error) {
        jobs.set(job.id, { ...job, pollError: error.message });
      }
    }));
    polling = false;
    draw();
    schedule();
  }

  async function cancel(job) {
    try {
      jobs.set(job.id, await api.post(`${model.path}/predictions/${job.id}/cancel`));
      toast(`Cancelling prediction job ${job.id}.`);
    } catch (error) {
      toast(`Job ${job.id} was not cancelled: ${error.message}`, "error");
    }
    draw();
    schedule();
  }

  async function showRows(job) {
    try {
      jobs.set(job.id, await api.get(`${model.path}/predictions/${job.id}`, { limit: FIRST_ROWS }));
    } catch (error) {
      toast(`The predictions of job ${job.id} could not be read: ${error.message}`, "error");
    }
    draw();
  }

  function draw() {
    const sorted = [...jobs.values()].sort((a, b) => b.id - a.id);
    if (!sorted.length) {
      fill(listBox, h("p", { class: "muted small" }, "No prediction jobs yet. \"Run as job\" queues one: workers run it like any job, and it can be cancelled."));
      return;
    }
    fill(listBox, h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Job", "Reference", "Status", "Submitted", "Took", "Result", ""].map((label) => h("th", { class: label === "Submitted" ? "hide-narrow" : "" }, label)))),
      h("tbody", {}, sorted.map(row)))),
      total > sorted.length ? h("p", { class: "muted small" }, `The latest ${sorted.length} of ${total} jobs.`) : null);
  }

  function row(job) {
    const running = !FINISHED.has(job.status);
    const took = job.started_at ? duration((job.finished_at || Date.now() / 1000) - job.started_at) : "—";
    const main = h("tr", { dataset: { job: String(job.id), status: job.status } },
      h("td", { class: "num" }, h("a", { href: `#/runs/${job.id}`, title: "The job's page (logs, files)" }, `#${job.id}`)),
      h("td", { class: "small" }, `${job.reference} (v${job.version})`),
      h("td", { title: job.error || job.pollError || "" }, badge(job.status)),
      h("td", { class: "nowrap small hide-narrow" }, time(job.created_at)),
      h("td", { class: "nowrap num" }, took),
      h("td", { class: "small" }, result(job)),
      h("td", { class: "nowrap" },
        running ? h("button", { class: "small danger", onclick: () => cancel(job) }, "Cancel") : null,
        job.status === "completed" && !job.predictions ? h("button", { class: "small", onclick: () => showRows(job) }, "First rows") : null));
    if (!job.predictions) return main;
    return [main, h("tr", { class: "job-rows" }, h("td", { colspan: "7" }, firstRows(job)))];
  }

  return {
    element, load, add,
    stop() {
      stopped = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}

function result(job) {
  if (job.status === "completed") {
    const link = job.download ? h("a", { href: job.download, download: "" }, "predictions.csv") : null;
    return [job.rows !== null && job.rows !== undefined ? `${job.rows.toLocaleString("en-US")} predictions ` : "", link];
  }
  if (job.error) return h("span", { class: "models-job-error" }, job.error);
  if (job.pollError) return h("span", { class: "muted" }, `not refreshed: ${job.pollError}`);
  return h("span", { class: "muted" }, job.status === "queued" ? "waiting for a worker…" : job.status === "running" ? "predicting…" : "");
}

function firstRows(job) {
  const count = Object.values(job.predictions)[0]?.length || 0;
  return [
    columnsTable(job.predictions, FIRST_ROWS),
    job.rows > count ? h("p", { class: "muted small" }, `The first ${count} of ${job.rows.toLocaleString("en-US")}; all of them in predictions.csv.`) : null,
  ];
}
