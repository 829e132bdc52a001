// A study's charts, drawn from its points (GET /studies/{id}/points: every trial's number,
// run, status, value and params as columns) and importances. Redrawn in place with
// Plotly.react while the study runs, so nothing flickers; WebGL (scattergl, parcoords) keeps
// 10,000 trials fluid.

import { navigate } from "../../router.js";
import { PALETTE, STATUS_COLORS, categoryAxis, draw, missingNotes, numericAxis, parallelDimensions, plotLabel, tidyParallelAxes } from "../../charts.js";
import { fill, h, number } from "../../ui.js";

const WEBGL_FROM = 1000;
/** Statuses drawn in the parallel coordinates, back to front: completed trials on top. */
const DRAWN = ["cancelled", "lost", "failed", "pruned", "completed"];
/** Statuses drawn in a colour of their own, bottom to top (completed: a gradient by value). */
const OTHERS = ["cancelled", "lost", "failed", "pruned"];
/** The completed trials' colours, from the worst value to the best, when there are more than
 * GRADED_FROM of them (fewer are told apart without it, and stay apart from the pruned). */
export const GRADIENT = ["#a9c0ef", "#0b2a80"];
export const GRADED_FROM = 100;

/** Say why there is no chart yet (a chart drawn before stays: trials never go away). */
function empty(element, text) {
  if (!drawn(element)) fill(element, h("div", { class: "chart-empty" }, text));
}

function drawn(element) {
  return element.classList.contains("js-plotly-plot");
}

/** `draw`, first clearing what `empty` put there. */
function redraw(element, data, layout) {
  if (!drawn(element)) fill(element);
  return draw(element, data, layout);
}

/** Each completed trial's value by number, and the best value so far. */
export function historyOf(points, direction) {
  const numbers = [];
  const values = [];
  const runs = [];
  const best = [];
  let soFar = null;
  const better = direction === "maximize" ? (a, b) => a > b : (a, b) => a < b;
  points.number.forEach((trial, index) => {
    const value = points.value[index];
    if (points.status[index] !== "completed" || value === null) return;
    numbers.push(trial);
    values.push(value);
    runs.push(points.run_id[index]);
    soFar = soFar === null || better(value, soFar) ? value : soFar;
    best.push(soFar);
  });
  return { numbers, values, runs, best };
}

/** The optimisation history: each completed trial's value and the best so far. */
export async function drawHistory(element, points, study) {
  const history = historyOf(points, study.direction);
  if (!history.numbers.length) {
    empty(element, "No trial completed yet: each completed trial's value will appear here.");
    return;
  }
  const type = history.numbers.length >= WEBGL_FROM ? "scattergl" : "scatter";
  const data = [
    { type, mode: "markers", name: "trial value", x: history.numbers, y: history.values, customdata: history.runs,
      marker: { color: STATUS_COLORS.completed, size: history.numbers.length > 2000 ? 4 : 6, opacity: 0.65 },
      hovertemplate: `trial %{x}<br>${plotLabel(study.objective)} %{y:.6g}<extra>click: open its run</extra>` },
    { type, mode: "lines", name: "best so far", x: history.numbers, y: history.best, hoverinfo: "skip",
      line: { color: PALETTE[1], width: 2, shape: "hv" } },
  ];
  const first = !drawn(element);
  await redraw(element, data, {
    hovermode: "closest", datarevision: history.numbers.length,
    xaxis: { title: { text: "trial" }, gridcolor: "#edf0f4", zeroline: false, automargin: true, dtick: history.numbers.at(-1) < 10 ? 1 : undefined },
    yaxis: { title: { text: plotLabel(study.objective) }, gridcolor: "#edf0f4", zeroline: false, automargin: true },
    margin: { l: 58, r: 12, t: 28, b: 42 }, legend: { orientation: "h", x: 0, y: 1, yanchor: "bottom" },
  });
  if (first) {
    element.on("plotly_click", (event) => {
      const run = event.points?.[0]?.customdata;
      if (run) navigate(`#/runs/${run}`);
    });
  }
}

/** Optuna's importances as horizontal bars (most important on top), or why there are none. */
export async function drawImportances(element, found) {
  const entries = Object.entries(found.importances || {}).sort((a, b) => a[1] - b[1]);
  if (!entries.length) {
    empty(element, `No importances yet: ${found.note || "nothing to compute them on"}.`);
    return;
  }
  await redraw(element, [{
    type: "bar", orientation: "h", x: entries.map(([, value]) => value), y: entries.map(([name]) => plotLabel(name)),
    marker: { color: PALETTE[0] }, text: entries.map(([, value]) => number(value, 3)), textposition: "auto",
    hovertemplate: "%{y}: %{x:.3f}<extra></extra>",
  }], {
    hovermode: "closest", showlegend: false, margin: { l: 12, r: 12, t: 12, b: 36 },
    xaxis: { title: { text: "importance" }, range: [0, Math.max(...entries.map(([, v]) => v), 0.01) * 1.05], gridcolor: "#edf0f4", zeroline: false },
    yaxis: { automargin: true, gridcolor: "#edf0f4" },
  });
}

/** What the importances were computed on, in words. */
export function importancesNote(found) {
  if (!found.importances) return "";
  if (found.sampled < found.completed) {
    return `Optuna's importances on a random sample of ${found.sampled.toLocaleString("en-US")} of the ${found.completed.toLocaleString("en-US")} completed trials (seeded: the same trials give the same figures).`;
  }
  return `Optuna's importances over the ${found.completed.toLocaleString("en-US")} completed trials.`;
}

// ---- parallel coordinates -------------------------------------------------------------------

/**
 * One axis of a setting of the space: a categorical's choices as labelled ticks, a log
 * range on a log10 axis (relabelled in real values once drawn), other ranges in their own
 * units over the space's bounds. A trial without the value sits below the axis, at "n/a".
 */
export function settingAxis(name, entry, values) {
  if (entry.type === "categorical") {
    const labels = entry.choices.map((choice) => (typeof choice === "string" ? choice : JSON.stringify(choice)));
    return categoryAxis(name, values, labels, entry.choices.map((choice) => JSON.stringify(choice)), JSON.stringify);
  }
  const log = Boolean(entry.log) && entry.low > 0;
  const scale = log ? Math.log10 : (v) => v;
  const scaled = values.map((v) => (v === null || v === undefined ? null : scale(v)));
  return numericAxis(log ? `${name} (log)` : name, scaled, scale(entry.low), scale(entry.high), { log });
}

/** The objective's axis over the values present; failed trials (no value) at "n/a". */
export function objectiveAxis(study, values) {
  const present = values.filter((v) => v !== null && v !== undefined);
  const low = present.length ? Math.min(...present) : 0;
  const high = present.length ? Math.max(...present) : 1;
  return numericAxis(`${study.objective} (${study.direction === "maximize" ? "max" : "min"})`, values, low, high);
}

/** A trial's status in the dashboard's words (Optuna's for a trial without a run). */
function statusOf(status) {
  return { complete: "completed", fail: "failed" }[status] || status;
}

/**
 * The ended trials' indices of `points`, in drawing order: failed, cancelled and pruned
 * first, then the completed ones from the worst value to the best (drawn on top).
 */
export function endedRows(points, direction) {
  const rank = new Map(DRAWN.map((status, index) => [status, index]));
  const sign = direction === "maximize" ? 1 : -1;
  const rows = points.status.map((_, index) => index).filter((index) => rank.has(statusOf(points.status[index])));
  const key = (index) => (statusOf(points.status[index]) === "completed" ? sign * (points.value[index] ?? 0) : 0);
  return rows.sort((a, b) => rank.get(statusOf(points.status[a])) - rank.get(statusOf(points.status[b])) || key(a) - key(b) || a - b);
}

/**
 * Line colours: completed trials from light (worst) to dark blue (best) by rank, so the
 * best region stands out of 10,000 lines (:data:`GRADED_FROM` or fewer: one blue); every
 * other status in a colour of its own. Plotly
 * draws higher colour values on top: the other statuses take the bottom of the scale, the
 * best completed trial its top. Returns Plotly's `line`.
 */
export function trialLines(statuses) {
  const others = OTHERS.filter((status) => statuses.includes(status));
  const completed = statuses.filter((status) => status === "completed").length;
  const start = others.length ? (completed ? 0.4 : 1) : 0;
  const band = others.length ? start / others.length : 0;
  const scale = [];
  others.forEach((status, index) => {
    const color = STATUS_COLORS[status] || "#999999";
    scale.push([index * band, color], [(index + 1) * band, color]);
  });
  const [worst, best] = completed > GRADED_FROM ? GRADIENT : [STATUS_COLORS.completed, STATUS_COLORS.completed];
  if (completed) scale.push([start, worst], [1, best]);
  let done = 0;
  const color = statuses.map((status) => (status === "completed"
    ? start + (1 - start) * (completed > 1 ? done++ / (completed - 1) : 1)
    : (others.indexOf(status) + 0.5) * band));
  return { color, colorscale: scale, cmin: 0, cmax: 1 };
}

/**
 * The parallel coordinates of the ended trials: one axis per setting of the space and one
 * for the objective, a line per trial coloured by its status. Returns the statuses drawn
 * with their counts (for the legend).
 */
export async function drawParallel(element, points, study) {
  const rows = endedRows(points, study.direction);
  if (!rows.length) {
    empty(element, "No trial ended yet: each one will be drawn across the settings and the objective.");
    return {};
  }
  const pick = (column) => rows.map((index) => column[index]);
  const axes = Object.entries(study.space).map(([name, entry]) => settingAxis(name, entry, pick(points.params[name] || [])));
  axes.push(objectiveAxis(study, pick(points.value)));
  const statuses = pick(points.status).map(statusOf);
  const dimensions = parallelDimensions(axes);
  await redraw(element, [{ type: "parcoords", line: trialLines(statuses), dimensions, labelangle: -15, labelside: "top" }], {
    margin: { l: 90, r: 70, t: 70, b: 24 }, hovermode: false, datarevision: `${rows.length}`, annotations: missingNotes(axes),
  });
  tidyParallelAxes(element, axes);
  const counts = {};
  for (const status of statuses) counts[status] = (counts[status] || 0) + 1;
  return counts;
}
