// One study, live: its status and progress, trials counted by status, the best trial, the
// optimisation history, parameter importances, parallel coordinates of the ended trials and
// the trials themselves (paged on the server). While it runs the summary is read every few
// seconds (one read at a time); the charts and the table are read again only when the counts
// changed, and redrawn in place; the importances (computed on the server) at most every 30 s,
// and once more when the study ends. Cancel asks first.

import { api } from "../../api.js";
import { STATUS_COLORS, release } from "../../charts.js";
import { badge, dialog, errorBox, fill, h, keyValues, loading, number, progressBar, throttle, time, toast } from "../../ui.js";
import { GRADED_FROM, GRADIENT, drawHistory, drawImportances, drawParallel, historyOf, importancesNote } from "./charts.js";
import { entryText, objectiveText, paced, valueText } from "./shared.js";
import { trialsTable } from "./trials.js";

const POLL_MS = 3000;
const CHARTS_MS = 4000;
const IMPORTANCES_MS = 30000;
/** The most runs the compare page takes (GET /compare refuses more). */
export const COMPARE_MAX = 100;

/**
 * Where "Compare trials" goes: the study's runs when it has at most COMPARE_MAX, else the
 * runs of its COMPARE_MAX best completed trials by id (from its `points`; null before they
 * are read or while no trial completed).
 */
export function compareLink(study, points) {
  if (study.trials_created <= COMPARE_MAX) return { href: `#/compare?study=${study.id}`, text: "Compare trials", title: "" };
  if (!points) return null;
  const { values, runs } = historyOf(points, study.direction);
  const sign = study.direction === "maximize" ? -1 : 1;
  const order = values.map((_, index) => index).filter((index) => runs[index] !== null);
  order.sort((a, b) => sign * (values[a] - values[b]) || a - b);
  const best = order.slice(0, COMPARE_MAX).map((index) => runs[index]);
  if (!best.length) return null;
  return {
    href: `#/compare?experiments=${best.join(",")}`,
    text: `Compare the best ${best.length} trials`,
    title: `A comparison holds at most ${COMPARE_MAX} runs: the ${best.length} completed trials with the best ${study.objective} of ${study.trials_created.toLocaleString("en-US")}`,
  };
}

export async function renderDetail(main, { params, query }) {
  const id = Number(params[0]);
  let summary = await api.get(`/studies/${id}/summary`);
  let stopped = false;
  let timer = null;
  let polling = false;
  let pollAgain = false;
  let seen = "";
  let completed = -1;
  let points = null;
  let importancesStarted = false;

  const title = h("h1", {});
  const statusBox = h("span", { id: "study-status" });
  const cancelButton = h("button", { class: "danger", id: "study-cancel", onclick: cancel }, "Cancel study");
  const compareButton = h("a", { class: "button", id: "study-compare", style: { display: "none" } }, "Compare trials");
  const liveNote = h("span", { class: "muted small", id: "study-live" });
  const sub = h("span", { class: "sub" });
  const progress = progressBar(0, { big: true });
  const countsBox = h("div", { class: "chips studies-counts", id: "study-counts" });
  const progressText = h("div", { class: "small muted", id: "study-progress" });
  const bestBox = h("div", { id: "study-best" });
  const historyChart = h("div", { class: "chart", id: "study-history" }, loading("Loading trials…"));
  const importancesChart = h("div", { class: "chart", id: "study-importances" }, loading("Computing importances…"));
  const importancesText = h("div", { class: "small muted", id: "study-importances-note" });
  const parallelChart = h("div", { class: "chart tall", id: "study-parallel" }, loading("Loading trials…"));
  const parallelLegend = h("div", { class: "legend", id: "study-parallel-legend" });
  const chartsError = h("div");
  const trials = trialsTable(summary, query);

  fill(main,
    h("div", { class: "page-head" }, title, statusBox, liveNote,
      compareButton, cancelButton, sub),
    h("div", { class: "grid-2 studies-grid" },
      h("div", { class: "card" }, h("h2", {}, "Progress"), progress, progressText, countsBox),
      h("div", { class: "card" }, h("h2", {}, "Best trial"), bestBox)),
    chartsError,
    h("div", { class: "grid-2 studies-grid" },
      h("div", { class: "card" }, h("h2", {}, "Optimisation history"), historyChart),
      h("div", { class: "card" }, h("h2", {}, "Parameter importances"), importancesChart, importancesText)),
    h("div", { class: "card" }, h("h2", {}, "Parallel coordinates"), parallelLegend,
      h("div", { class: "studies-parallel-wrap" }, parallelChart),
      h("div", { class: "small muted" }, "Ended trials only; drag along an axis to keep the trials inside a range, click the axis to clear it.")),
    trials.element,
    definition(summary));

  function drawSummary() {
    const study = summary;
    title.textContent = `Study ${study.id} · ${study.name}`;
    fill(statusBox, badge(study.status));
    cancelButton.style.display = study.status === "running" ? "" : "none";
    cancelButton.disabled = Boolean(study.cancel_requested_at);
    if (study.cancel_requested_at && study.status === "running") cancelButton.textContent = "Cancelling…";
    sub.textContent = `${study.pipeline} · ${objectiveText(study)} · ${study.sampler} sampler, ${study.pruner} pruner · ${study.parallelism} at once · created ${time(study.created_at)}${study.finished_at ? ` · ended ${time(study.finished_at)}` : ""}`;
    const ended = study.trials_finished;
    progress.update(ended / Math.max(study.n_trials, 1), `${ended} of ${study.n_trials} trials ended`, study.status);
    progressText.textContent = `${ended.toLocaleString("en-US")} of ${study.n_trials.toLocaleString("en-US")} trials ended · ${study.trials_created.toLocaleString("en-US")} created`;
    fill(countsBox, Object.entries(study.counts).map(([status, n]) =>
      h("span", { class: "badge", dataset: { status, n: String(n) }, style: { background: "#fff", border: `1px solid ${STATUS_COLORS[status] || "#c3cad6"}` } },
        `${status} ${n.toLocaleString("en-US")}`)));
    if (study.error) countsBox.append(h("div", { class: "error-box" }, study.error));
    drawBest(study);
    drawCompare();
    trials.setCounts(study.counts);
  }

  function drawCompare() {
    const link = compareLink(summary, points);
    compareButton.style.display = link ? "" : "none";
    if (!link) return;
    compareButton.href = link.href;
    compareButton.textContent = link.text;
    compareButton.title = link.title;
  }

  function drawBest(study) {
    const best = study.best;
    if (!best) {
      fill(bestBox, h("p", { class: "muted" }, "No trial completed yet."));
      return;
    }
    fill(bestBox,
      h("div", { class: "studies-best-value" }, h("span", { class: "muted" }, `${study.objective} `), h("strong", {}, number(best.value, 6))),
      h("p", {}, `Trial ${best.number}`, best.run_id ? [" · ", h("a", { href: `#/runs/${best.run_id}`, id: "study-best-run" }, `run ${best.run_id}`)] : null),
      keyValues(Object.entries(best.params).map(([name, value]) => [name, valueText(value)])));
  }

  /** Read the points and draw the charts; only through `charts` (one read at a time). The
   * first importances are asked once the first points are in (they share the server's CPU). */
  async function loadCharts() {
    try {
      const read = await api.get(`/studies/${id}/points`);
      if (stopped) return; // left the page: no importances (seconds of the server's CPU)
      startImportances();
      points = read;
      drawCompare();
      fill(chartsError);
      await drawHistory(historyChart, points, summary);
      performance.mark("study:history", { detail: points.number.length });
      const counts = await drawParallel(parallelChart, points, summary);
      performance.mark("study:parallel", { detail: points.number.length });
      fill(parallelLegend, Object.entries(counts).map(([status, n]) => {
        const graded = status === "completed" && n > GRADED_FROM;
        const swatch = graded ? `linear-gradient(to right, ${GRADIENT[0]}, ${GRADIENT[1]})` : STATUS_COLORS[status] || "#999";
        const what = graded ? `completed (${n.toLocaleString("en-US")}; darker: better ${summary.objective})` : `${status} (${n.toLocaleString("en-US")})`;
        return h("span", { dataset: { status } }, h("i", { style: { background: swatch, height: "6px" } }), what);
      }));
    } catch (error) {
      if (stopped) return;
      fill(chartsError, errorBox(error, "The charts could not be drawn"));
      startImportances();
    }
  }

  function startImportances() {
    if (importancesStarted) return;
    importancesStarted = true;
    importances.now();
  }

  /** Read and draw the importances; only through `importances` (one read at a time). */
  async function loadImportances() {
    try {
      const found = await api.get(`/studies/${id}/importances`);
      if (stopped) return;
      await drawImportances(importancesChart, found);
      importancesText.textContent = importancesNote(found);
      performance.mark("study:importances", { detail: found.completed });
    } catch (error) {
      if (!stopped) fill(importancesChart, errorBox(error, "The importances could not be computed"));
    }
  }

  const charts = paced(() => loadCharts(), CHARTS_MS);
  const importances = paced(loadImportances, IMPORTANCES_MS);
  // A read of the table aborts the one before it: ui.throttle's pace is enough.
  const table = throttle(() => trials.load(), CHARTS_MS);

  /** Read what changed since last time: the charts and table when the counts moved, the
   * importances when the completed trials did (at most every 30 s). */
  function follow(first = false) {
    drawSummary();
    const signature = JSON.stringify(summary.counts);
    const done = summary.counts.completed || 0;
    if (first) {
      [seen, completed] = [signature, done];
      // One after the other, the table first: they share the server's CPU (the first
      // importances of a server import Optuna's module, about 2 s), and the table is read first.
      trials.load().then(charts.now);
      return;
    }
    if (signature !== seen) {
      seen = signature;
      charts();
      table();
    }
    if (done !== completed) {
      completed = done;
      if (importancesStarted) importances(); // else the first read, due, reads them
    }
  }

  /** Read the summary and follow it; again in a few seconds while the study runs. One read
   * at a time: a poll asked while one is out (cancel) runs as soon as it is back. */
  async function poll() {
    clearTimeout(timer);
    timer = null;
    if (stopped) return;
    if (polling) {
      pollAgain = true;
      return;
    }
    polling = true;
    let failed = false;
    try {
      summary = await api.get(`/studies/${id}/summary`);
      liveNote.textContent = summary.status === "running" ? "live" : "";
      liveNote.classList.remove("bad");
    } catch (error) {
      liveNote.textContent = `live updates paused: ${error.message}`;
      liveNote.classList.add("bad");
      failed = true;
    } finally {
      polling = false;
    }
    if (stopped) return;
    if (!failed) follow();
    if (pollAgain) {
      pollAgain = false;
      poll();
    } else if (failed || summary.status === "running") {
      timer = setTimeout(poll, failed ? POLL_MS * 2 : POLL_MS);
    } else if (importancesStarted) {
      importances.now(); // the study ended: its last importances, without waiting
    }
  }

  async function cancel() {
    const ended = summary.trials_finished;
    const ok = await dialog({
      title: `Cancel study ${id}?`,
      body: `${ended.toLocaleString("en-US")} of ${summary.n_trials.toLocaleString("en-US")} trials ended. Queued trials are dropped; running ones stop at their next batch and keep what they logged.`,
      confirm: "Cancel study", danger: true,
    });
    if (!ok) return;
    try {
      await api.post(`/studies/${id}/cancel`);
      toast(`Study ${id} is being cancelled.`, "ok");
    } catch (error) {
      toast(error.message, "error");
    }
    poll();
  }

  follow(true);
  performance.mark("study:summary");
  liveNote.textContent = summary.status === "running" ? "live" : "";
  if (summary.status === "running") timer = setTimeout(poll, POLL_MS);
  return () => {
    stopped = true;
    clearTimeout(timer);
    charts.cancel();
    importances.cancel();
    table.cancel();
    trials.cancel();
    release(main);
  };
}

/** The study's search space and base config. */
function definition(study) {
  const space = h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Setting"), h("th", {}, "Type"), h("th", {}, "Values"))),
    h("tbody", {}, Object.entries(study.space).map(([name, entry]) =>
      h("tr", {}, h("td", {}, name), h("td", {}, entry.type), h("td", { class: "studies-values" }, entryText(entry))))));
  const config = Object.entries(study.base_config).filter(([name]) => !(name in study.space));
  return h("div", { class: "grid-2 studies-grid" },
    h("div", { class: "card" }, h("h2", {}, "Search space"), h("div", { class: "table-wrap" }, space)),
    h("div", { class: "card" }, h("h2", {}, "Base config"), h("p", { class: "small muted" }, "Every trial shares these; the searched settings override them."),
      keyValues(config.map(([name, value]) => [name, valueText(value)]))));
}
