// A run: live progress and curves while it runs (its history on open, then each event as it
// is committed), its process's system metrics by the time they were sampled, status, timings
// (and its lease while it is queued or running), metrics beside their baselines, the report
// with its plots, config, logs and files; rename it and write its notes, cancel it, or
// register its model.

import { ApiError, api, stream } from "../api.js";
import { liveCurves, release } from "../charts.js";
import { navigate } from "../router.js";
import { FINISHED, badge, dialog, errorBox, fill, h, progressBar, toast } from "../ui.js";
import { nameEditor, notesBox } from "./run/notes.js";
import { progressNote, runInfo, scoresTable } from "./run/summary.js";
import { isSystem, systemCharts } from "./run/system.js";
import { runTabs } from "./run/tabs.js";

const isLoss = (key) => /loss/i.test(key);
const INFO_EVERY_MS = 5000;

export async function render(main, { params, query }) {
  const id = Number(params[0]);
  let run = await api.get(`/runs/${id}`);
  const finishedAtOpen = FINISHED.has(run.status);

  const edited = (fresh) => {
    run = { ...run, name: fresh.name, notes: fresh.notes };
    name.show();
  };
  const name = nameEditor(() => run, edited);
  const notes = notesBox(() => run, edited);
  const statusBox = h("span");
  const actions = h("div", { class: "row" });
  const subtitle = h("div", { class: "sub" });
  const bar = progressBar(run.progress, { big: true });
  const progressText = h("div", { class: "muted small", id: "progress-message" });
  const errorArea = h("div");
  const info = h("div", { id: "run-info" });
  const scores = h("div");
  const lossEmpty = h("div", { class: "chart-empty" }, "No loss logged yet.");
  const metricEmpty = h("div", { class: "chart-empty" }, "No other metric logged yet.");
  const lossChart = h("div", { class: "chart", id: "loss-chart" });
  const metricChart = h("div", { class: "chart", id: "metric-chart" });
  const losses = liveCurves(lossChart, { keys: (key) => isLoss(key) && !isSystem(key), yTitle: "loss", empty: lossEmpty });
  const others = liveCurves(metricChart, { keys: (key) => !isLoss(key) && !isSystem(key), empty: metricEmpty });
  const system = systemCharts(id, () => run);
  const liveNote = h("span", { class: "muted small", id: "live-note" });
  const tabs = runTabs(id, () => run, query.get("tab"));

  fill(main,
    h("div", { class: "page-head" }, name.element, statusBox, actions, subtitle),
    errorArea,
    h("div", { class: "card" }, h("div", { class: "row" }, h("h2", { style: { margin: 0 } }, "Progress"), h("span", { class: "spacer" }), liveNote), bar, progressText),
    h("div", { class: "grid-2" },
      h("div", { class: "card" }, h("h2", {}, "Loss"), lossEmpty, lossChart),
      h("div", { class: "card" }, h("h2", {}, "Other metrics"), metricEmpty, metricChart)),
    system.element,
    h("div", { class: "grid-2", style: { marginTop: "1rem" } },
      h("div", { class: "card" }, h("h2", {}, "Run"), info),
      h("div", { class: "card" }, h("h2", {}, "Test metrics beside their baselines"), scores)),
    notes.element,
    h("div", { class: "card", style: { marginTop: "1rem" } }, tabs.element));

  function drawHead() {
    name.show();
    fill(statusBox, badge(run.status));
    subtitle.textContent = `Run ${run.id} · ${run.pipeline}${run.batch_id ? ` · batch ${run.batch_id}` : ""}`;
    const finished = FINISHED.has(run.status);
    // A stream's retrain is no pipeline's run: its learner goes to its stream, not the registry.
    const retrain = run.kind === "retrain";
    fill(actions,
      !finished ? h("button", { class: "danger", id: "cancel-run", disabled: Boolean(run.cancel_requested_at), onclick: cancel }, run.cancel_requested_at ? "Cancelling…" : "Cancel") : null,
      run.status === "completed" && !retrain ? h("button", { class: "primary", id: "register-model", onclick: register }, "Register as model") : null,
      run.batch_id && !retrain ? h("a", { class: "button", href: `#/compare?batch=${run.batch_id}` }, "Compare batch") : null,
      retrain ? h("a", { class: "button", id: "retrain-stream", href: `#/streams/${run.config.stream}` }, `Its stream (${run.config.stream})`)
        : h("a", { class: "button", href: `#/launch?pipeline=${encodeURIComponent(run.pipeline)}` }, "Launch another"),
      finished ? h("button", { onclick: remove }, "Delete") : null);
    bar.update(run.progress, run.progress_message, run.status);
    progressText.textContent = progressNote(run);
    fill(errorArea, run.error ? errorBox(new Error(run.error), `The run ${run.status}`) : null);
  }

  function drawAll() {
    drawHead();
    fill(info, runInfo(run));
    fill(scores, scoresTable(run));
  }

  // ---- actions -----------------------------------------------------------------------------
  async function cancel() {
    const ok = await dialog({ title: `Cancel run ${id}?`, body: "A running run stops at its next batch and keeps its metrics so far; a queued one never starts.", confirm: "Cancel the run", danger: true });
    if (!ok) return;
    try {
      run = { ...run, ...(await api.post(`/runs/${id}/cancel`)), cancel_requested_at: Date.now() / 1000 };
      toast(`Cancel requested for run ${id}.`, "ok");
      drawHead();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  async function remove() {
    const ok = await dialog({ title: `Delete run ${id}?`, body: "Its metrics, logs and files are deleted for good.", confirm: "Delete", danger: true });
    if (!ok) return;
    try {
      await api.delete(`/runs/${id}`);
      toast(`Deleted run ${id}.`, "ok");
      navigate("#/runs");
    } catch (error) {
      toast(error.message, "error");
    }
  }

  async function register() {
    const body = h("div", { class: "stack" },
      h("p", { class: "muted" }, "The run's model becomes the next version of a registered model (created if new)."),
      h("div", { class: "field" }, h("label", { for: "model-name" }, "Model name"),
        h("input", { id: "model-name", name: "model", value: run.pipeline, required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*", maxlength: "200" })),
      h("div", { class: "field" }, h("label", { for: "model-description" }, "Description"), h("input", { id: "model-description", name: "description", value: "" })));
    const values = await dialog({ title: `Register run ${id} as a model`, body, confirm: "Register" });
    if (!values) return;
    const name = values.model.trim();
    try {
      try {
        await api.get(`/models/${encodeURIComponent(name)}`);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) throw error;
        await api.post("/models", { name });
      }
      const version = await api.post(`/models/${encodeURIComponent(name)}/versions`, { experiment: id, description: values.description });
      toast(`Registered as ${version.model} version ${version.version}.`, "ok");
      navigate(`#/models/${encodeURIComponent(version.model)}`);
    } catch (error) {
      toast(`Not registered: ${error.message}`, "error");
    }
  }

  // ---- live --------------------------------------------------------------------------------
  /** Read the run again (lease, times, scores); `whole` also redraws the head and the tab. */
  async function reread(whole) {
    let fresh;
    try {
      fresh = await api.get(`/runs/${id}`);
    } catch (error) {
      if (whole) fill(errorArea, errorBox(error, error.status === 404 ? "This run was deleted" : "The run could not be read again"));
      return;
    }
    if (FINISHED.has(run.status) && !FINISHED.has(fresh.status)) return; // an older answer
    run = fresh;
    if (!whole) return fill(info, runInfo(run));
    drawAll();
    tabs.show();
  }

  function onEvent(message) {
    if (message.type === "history") {
      losses.set(message.metrics);
      others.set(message.metrics);
      system.set(message.metrics);
      if (message.status) run.status = message.status;
      if (message.progress && !FINISHED.has(run.status)) { // a finished run's record has the last word
        run.progress = message.progress.progress;
        run.progress_message = message.progress.message;
      }
      drawHead();
    } else if (message.type === "metrics") {
      for (const [key, step, value] of message.points) {
        losses.add(key, step, value);
        others.add(key, step, value);
        system.add(key);
      }
    } else if (message.type === "progress") {
      run.progress = message.progress;
      run.progress_message = message.message || `${message.done} of ${message.total}`;
      bar.update(run.progress, run.progress_message, run.status);
      progressText.textContent = progressNote(run);
    } else if (message.type === "status") {
      run.status = message.status;
      if (message.worker) run.worker = message.worker;
      drawHead();
      fill(info, runInfo(run));
      if (!FINISHED.has(message.status)) reread(false); // started: its lease and times
    } else if (message.type === "log") {
      tabs.addLog(message);
    } else if (message.type === "artifact") {
      tabs.filesChanged();
    } else if (message.type === "edited") {
      if (message.name !== undefined) run.name = message.name;
      if (message.notes !== undefined) notes.changed(message.notes);
      run.notes = message.notes !== undefined ? message.notes : run.notes;
      name.show();
    } else if (message.type === "end") {
      live.close();
      showLive(`ended ${message.status}`);
      if (!finishedAtOpen) reread(true); // its result, report and files
    }
  }

  function showLive(text, bad = false) {
    liveNote.textContent = text;
    liveNote.classList.toggle("bad", bad);
  }

  drawAll();
  tabs.show();
  if (!finishedAtOpen) showLive("live");
  const live = stream(`/runs/${id}/events`, {
    reconnect: true,
    onMessage: onEvent,
    // Back: the stream resumes after the last event received, so what was missed comes as
    // messages; if it cannot (a reset), the history message that follows brings the curves,
    // status and progress, and the tabs read their logs and files again.
    onDrop: () => showLive("disconnected — retrying", true),
    onReconnect: (resumed) => {
      showLive("live (reconnected)");
      if (!resumed) tabs.catchUp();
    },
    onReset: () => tabs.catchUp(),
    onClose: (event) => {
      showLive("not live", true);
      fill(errorArea, errorBox(new Error(event.reason || `the server closed run ${id}'s stream (${event.code})`), "Live updates stopped"));
    },
  });
  // Lease, heartbeat and timings are read again every few seconds while the run is not over.
  const ticker = setInterval(() => { if (!FINISHED.has(run.status)) reread(false); }, INFO_EVERY_MS);
  const clock = setInterval(() => { if (!FINISHED.has(run.status)) fill(info, runInfo(run)); }, 1000);

  return () => {
    live.close();
    system.close();
    clearInterval(ticker);
    clearInterval(clock);
    release(main);
  };
}
