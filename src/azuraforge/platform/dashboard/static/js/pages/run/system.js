// A run's system metrics (system/...: CPU, memory, threads of its process), apart from its
// training curves and drawn against the time each sample was taken, from the run's start:
// a sample's step only counts the samples (0, 1, 2...), and says nothing of when.

import { api } from "../../api.js";
import { PALETTE, draw, plotLabel } from "../../charts.js";
import { h, throttle } from "../../ui.js";

/** A system metric (MLflow's prefix): not a training curve. */
export const isSystem = (key) => key.startsWith("system/");

const GROUPS = [
  ["usage", "use %", (key) => key.endsWith("_percentage")],
  ["memory", "memory MB", (key) => key.endsWith("_megabytes")],
  ["threads", "threads", (key) => key.endsWith("_count")],
];
const MOST_POINTS = 1000; // a curve's points read, evenly spaced over the run (the API's default)
const READ_EVERY_MS = 2000; // samples come every 10 s by default: one read each, at most

/**
 * The time axis for samples spanning `span` seconds: seconds up to 10 minutes, then minutes
 * up to 10 hours, then hours; `{divisor, title}`.
 */
export function elapsedAxis(span) {
  if (span <= 600) return { divisor: 1, title: "seconds since the run started" };
  if (span <= 36000) return { divisor: 60, title: "minutes since the run started" };
  return { divisor: 3600, title: "hours since the run started" };
}

/**
 * The System card of run `id`; `current()` gives the run as last read (its `started_at` is
 * the time axis' zero, or its first sample when that came before: an earlier attempt's). `set(curves)` takes the history's curves, `add(key)` a key of a live
 * point: each names the system metrics logged, whose points (step, value, time) are then read
 * from `GET /runs/{id}/metrics` and drawn by the time they were sampled.
 */
export function systemCharts(id, current) {
  const empty = h("div", { class: "chart-empty" }, "No system metrics yet: the run's process is sampled every few seconds while it runs.");
  const charts = GROUPS.map(([name, yTitle, keep]) => ({
    element: h("div", { class: "chart system-chart", id: `system-${name}-chart` }), yTitle, keep,
  }));
  const area = h("div", { class: "system-charts" }, ...charts.map((c) => c.element));
  area.hidden = true;
  const keys = new Set();
  let asked = 0; // the newest read: an older answer that comes after it is not drawn

  async function read() {
    const ask = ++asked;
    let answer;
    try {
      answer = await api.get(`/runs/${id}/metrics`, { keys: [...keys], max_points: MOST_POINTS });
    } catch {
      return; // the page says when the server is gone; the next sample reads them again
    }
    if (ask === asked) drawAll(answer.metrics);
  }
  const readSoon = throttle(read, READ_EVERY_MS);

  function drawAll(curves) {
    const times = Object.values(curves).flatMap((curve) => curve.times);
    if (!times.length) return;
    // A run claimed again (lost, restarted) starts again: its earlier samples stay right of 0.
    const zero = Math.min(current().started_at ?? Infinity, ...times);
    const axis = elapsedAxis(Math.max(...times) - zero);
    for (const chart of charts) {
      const data = Object.entries(curves).filter(([key]) => chart.keep(key)).sort(([a], [b]) => a.localeCompare(b))
        .map(([key, curve], index) => ({
          type: "scatter", mode: curve.times.length > 1 ? "lines" : "markers", name: plotLabel(key.slice("system/".length)),
          x: curve.times.map((t) => (t - zero) / axis.divisor), y: curve.values,
          line: { color: PALETTE[index % PALETTE.length], width: 2 },
        }));
      chart.element.hidden = !data.length; // no gap where a unit has no metric
      if (!data.length) continue;
      draw(chart.element, data, {
        showlegend: true,
        xaxis: { title: { text: axis.title }, gridcolor: "#edf0f4", rangemode: "tozero" },
        yaxis: { title: { text: plotLabel(chart.yTitle) }, gridcolor: "#edf0f4" },
      }).catch(() => {}); // Plotly not loaded (the server is gone): the next sample draws it
    }
  }

  function note(key) {
    if (!isSystem(key) || keys.has(key)) return false;
    keys.add(key);
    if (area.hidden) {
      area.hidden = false;
      empty.remove();
    }
    return true;
  }

  return {
    element: h("div", { class: "card", style: { marginTop: "1rem" }, id: "system-card" }, h("h2", {}, "System"), empty, area),
    set(curves) {
      Object.keys(curves).forEach(note);
      if (keys.size) readSoon();
    },
    add(key) {
      note(key);
      if (isSystem(key)) readSoon();
    },
    close() {
      readSoon.cancel();
      asked += 1;
    },
  };
}
