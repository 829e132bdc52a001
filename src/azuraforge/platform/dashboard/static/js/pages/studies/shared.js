// What the studies pages share: the objective as words, a search-space entry as text, a
// param's value as text, and a task paced to run at most once per interval, one run at a time.

import { number } from "../../ui.js";

/** "min val_loss" / "max accuracy". */
export function objectiveText(study) {
  return `${study.direction === "maximize" ? "max" : "min"} ${study.objective}`;
}

/** A search-space entry as text: "0.0001 – 0.1, log", "1 – 4, step 1", "adam | sgd". */
export function entryText(entry) {
  if (entry.type === "categorical") return entry.choices.map((choice) => JSON.stringify(choice)).join(" | ");
  const parts = [`${entry.low} – ${entry.high}`];
  if (entry.log) parts.push("log");
  if (entry.step !== null && entry.step !== undefined) parts.push(`step ${entry.step}`);
  return parts.join(", ");
}

/** A param's value in a table cell. */
export function valueText(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return number(value, 4);
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * `task()` (which may return a promise) run at most once per `interval` ms, and never while
 * its last run is still out: a call meanwhile runs it once both are over (only one call
 * waits). `now()` runs it as soon as the last run is over, the interval not waited;
 * `cancel()` drops the waiting call. Unlike `ui.throttle`, which calls again once the
 * interval passed whatever the last call still does: reading and drawing 10,000 trials'
 * charts takes seconds where WebGL runs on the CPU, and importances are computed on the
 * server, so a second run started beside the first would only queue behind it.
 */
export function paced(task, interval) {
  let last = 0;
  let timer = null; // a call waiting for its time
  let queued = false; // a call whose time came, waiting for the last run to end
  let running = null;
  let generation = 0; // cancel() drops what was asked before it
  const run = async (asked) => {
    timer = null;
    queued = true;
    if (running) await running;
    queued = false;
    if (asked !== generation) return;
    last = Date.now();
    running = Promise.resolve().then(task).catch(() => {});
    await running;
    running = null;
  };
  const start = (wait) => {
    timer = setTimeout(run, wait, generation);
  };
  const call = () => {
    if (!timer && !queued) start(Math.max(0, last + interval - Date.now()));
  };
  call.now = () => {
    if (queued) return; // runs as soon as the last run is over anyway
    clearTimeout(timer);
    start(0);
  };
  call.cancel = () => {
    clearTimeout(timer);
    timer = null;
    generation += 1;
  };
  return call;
}
