// Compare: runs side by side (named by ids, a batch or a study): their curves overlaid, the
// settings that differ, and a parallel-coordinates chart whose axes read in the values' own
// units (the scores the address names, `scores=metrics.MAE.model`, are axes too), with failed,
// cancelled and pruned runs drawn apart; brushing an axis filters the table.

import { api } from "../api.js";
import { PALETTE, STATUS_COLORS, categoryAxis, draw, missingNotes, numericAxis, parallelDimensions, plotText, release, tidyParallelAxes } from "../charts.js";
import { navigate } from "../router.js";
import { badge, errorBox, fill, h, number, shown } from "../ui.js";


/** Which runs the address names: {experiments: "1,2,3"} or {batch} or {study}. */
function selectionOf(query) {
  for (const key of ["experiments", "batch", "study"]) if (query.get(key)) return { [key]: query.get(key) };
  return null;
}

export async function render(main, { query }) {
  const selection = selectionOf(query);
  const idsInput = h("input", { type: "text", id: "compare-ids", value: query.get("experiments") || "", placeholder: "run ids: 3, 5, 8", "aria-label": "Run ids", style: { width: "16rem" } });
  const form = h("form", { class: "toolbar", onsubmit: (e) => {
    e.preventDefault();
    navigate(`#/compare?experiments=${idsInput.value.split(/[\s,]+/).filter(Boolean).join(",")}`);
  } }, idsInput, h("button", { type: "submit" }, "Compare"));
  const head = h("div", { class: "page-head" }, h("h1", {}, "Compare runs"), form);
  if (!selection) {
    fill(main, head, h("div", { class: "notice" }, "Name the runs to compare (up to 100), or select them on the ", h("a", { href: "#/runs" }, "runs page"), "."));
    return null;
  }
  let comparison;
  try {
    comparison = await api.get("/compare", { ...selection, points: 400, scores: query.get("scores") || undefined });
  } catch (error) {
    fill(main, head, errorBox(error, "These runs cannot be compared"));
    return null;
  }
  const runs = comparison.runs;
  const colorOf = new Map(runs.map((run, index) => [run.id, PALETTE[index % PALETTE.length]]));
  const what = selection.batch ? `batch ${selection.batch}` : selection.study ? `study ${selection.study}` : `${runs.length} runs`;
  head.querySelector("h1").textContent = `Compare ${what}`;

  const curves = h("div", { class: "grid-2", id: "compare-curves" });
  const parallelChart = h("div", { class: "chart tall", id: "parallel-chart" });
  const brushNote = h("span", { class: "muted small", id: "brush-note" });
  const table = runsTable(runs, comparison, colorOf);
  fill(main, head,
    h("div", { class: "card" }, h("h2", {}, "Parallel coordinates"), statusLegend(runs), parallelChart, h("div", { class: "row" }, brushNote)),
    h("div", { class: "card" }, h("h2", {}, "Runs"), table.element),
    curves,
    h("div", { class: "card", style: { marginTop: "1rem" } }, h("h2", {}, "Settings that differ"), configDiff(runs, comparison.config_diff, colorOf)));

  await drawParallel(parallelChart, comparison.parallel, (visible) => {
    table.show(visible);
    brushNote.textContent = visible ? `${visible.size} of ${runs.length} runs within the brushed ranges (drag on an axis to brush, click its bar to clear)` : "Drag along an axis to keep only the runs inside a range.";
  });
  drawCurves(curves, comparison.curves, runs, colorOf);
  return () => release(main);
}

function statusLegend(runs) {
  const present = [...new Set(runs.map((run) => run.status))];
  return h("div", { class: "legend", id: "status-legend" }, present.map((status) =>
    h("span", {}, h("i", { style: { background: STATUS_COLORS[status] || "#999" } }), `${status} (${runs.filter((r) => r.status === status).length})`)));
}

// ---- parallel coordinates ---------------------------------------------------------------------

/**
 * One Plotly dimension for an axis of the API's parallel data: numbers in their own units
 * (a log10 axis, relabelled in real values, when all are positive and span more than two
 * decades), text as labelled categories; a missing value (a failed run's metric) at "n/a".
 */
export function dimensionOf(axis) {
  const label = axis.source === "metric" ? `${axis.key} (last)` : axis.key;
  const present = axis.values.filter((v) => v !== null && v !== undefined);
  if (!axis.numeric) {
    const text = (v) => (typeof v === "object" ? JSON.stringify(v) : String(v));
    const categories = [...new Set(present.map(text))].sort();
    return categoryAxis(label, axis.values, categories.map((c) => c || '""'), categories, text);
  }
  const low = present.length ? Math.min(...present) : 0;
  const high = present.length ? Math.max(...present) : 1;
  const log = present.length > 1 && low > 0 && high / low > 100;
  const scale = log ? Math.log10 : (v) => v;
  const values = axis.values.map((v) => (v === null || v === undefined ? null : scale(v)));
  return numericAxis(log ? `${label} (log scale)` : label, values, scale(low), scale(high), { log });
}

/** Line colours by status, as a stepped colour scale over status codes. */
function statusColors(statuses) {
  const kinds = [...new Set(statuses)];
  const stepped = [];
  kinds.forEach((kind, index) => {
    const color = STATUS_COLORS[kind] || "#999";
    const from = kinds.length === 1 ? 0 : index / kinds.length;
    const to = kinds.length === 1 ? 1 : (index + 1) / kinds.length;
    stepped.push([from, color], [to, color]);
  });
  const codes = statuses.map((status) => (kinds.length === 1 ? 0.5 : (kinds.indexOf(status) + 0.5) / kinds.length));
  return { color: codes, colorscale: stepped, cmin: 0, cmax: 1 };
}

async function drawParallel(element, parallel, onBrush) {
  if (!parallel.dimensions.length) {
    fill(element, h("div", { class: "chart-empty" }, "No setting varies and no metric was logged: nothing to draw."));
    element.classList.remove("tall");
    onBrush(null);
    return;
  }
  const axes = parallel.dimensions.map(dimensionOf);
  const line = statusColors(parallel.statuses);
  await draw(element, [{ type: "parcoords", line, dimensions: parallelDimensions(axes), labelangle: -20, labelside: "top" }],
    { margin: { l: 70, r: 70, t: 70, b: 30 }, hovermode: false, annotations: missingNotes(axes) });
  tidyParallelAxes(element, axes);
  onBrush(null);
  element.on("plotly_restyle", () => {
    const dimensions = element.data[0].dimensions;
    const visible = new Set();
    parallel.experiment_ids.forEach((id, row) => {
      const inside = dimensions.every((dimension) => {
        const ranges = dimension.constraintrange;
        if (!ranges || !ranges.length) return true;
        const list = Array.isArray(ranges[0]) ? ranges : [ranges];
        return list.some(([low, high]) => dimension.values[row] >= low && dimension.values[row] <= high);
      });
      if (inside) visible.add(id);
    });
    const brushed = dimensions.some((d) => d.constraintrange && d.constraintrange.length);
    onBrush(brushed ? visible : null);
  });
}

// ---- tables and curves ------------------------------------------------------------------------

function runsTable(runs, comparison, colorOf) {
  const params = comparison.parallel.dimensions.filter((d) => d.source === "param");
  const metrics = comparison.parallel.metrics;
  const scores = comparison.parallel.scores;
  const rows = new Map();
  const body = h("tbody", {}, runs.map((run, index) => {
    const tr = h("tr", { dataset: { id: String(run.id) } },
      h("td", {}, h("i", { class: "swatch", style: { display: "inline-block", width: "10px", height: "10px", borderRadius: "2px", background: colorOf.get(run.id) } })),
      h("td", { class: "num" }, h("a", { href: `#/runs/${run.id}` }, String(run.id))),
      h("td", { class: "name", title: run.name }, run.name),
      h("td", {}, badge(run.status)),
      params.map((p) => h("td", { class: p.numeric ? "num" : "" }, p.values[index] === null ? "—" : shown(p.values[index]))),
      metrics.map((key) => h("td", { class: "num" }, number(run.metrics[key]))),
      scores.map((name) => h("td", { class: "num" }, number(run.score_values[name]))));
    rows.set(run.id, tr);
    return tr;
  }));
  const element = h("div", { class: "table-wrap" }, h("table", { id: "compare-table" },
    h("thead", {}, h("tr", {}, h("th", {}), h("th", { class: "num" }, "ID"), h("th", {}, "Name"), h("th", {}, "Status"),
      params.map((p) => h("th", { class: p.numeric ? "num" : "" }, p.key)), metrics.map((key) => h("th", { class: "num" }, key)),
      scores.map((name) => h("th", { class: "num" }, name)))),
    body));
  return {
    element,
    show(visible) {
      for (const [id, tr] of rows) tr.hidden = visible !== null && !visible.has(id);
    },
  };
}

function configDiff(runs, differences, colorOf) {
  if (!differences.length) return h("p", { class: "muted" }, "All runs share the same settings.");
  return h("div", { class: "table-wrap" }, h("table", { id: "config-diff" },
    h("thead", {}, h("tr", {}, h("th", {}, "setting"), runs.map((run) => h("th", { style: { borderTop: `3px solid ${colorOf.get(run.id)}` } }, `#${run.id}`)))),
    h("tbody", {}, differences.map((difference) => h("tr", {}, h("td", {}, h("code", {}, difference.key)),
      difference.values.map((value, index) => {
        const missing = difference.missing.includes(runs[index].id);
        return h("td", { class: missing ? "muted" : "diff-cell" }, missing ? "missing" : shown(value));
      }))))));
}

function drawCurves(container, metricCurves, runs, colorOf) {
  if (!metricCurves.length) {
    fill(container, h("div", { class: "card" }, h("p", { class: "muted" }, "None of these runs logged a curve.")));
    return;
  }
  const byId = new Map(runs.map((run) => [run.id, run]));
  for (const metric of metricCurves) {
    const chart = h("div", { class: "chart" });
    container.append(h("div", { class: "card" }, h("h2", {}, metric.key), chart));
    const data = metric.runs.map((curve) => {
      const run = byId.get(curve.experiment_id);
      return {
        type: "scatter", mode: curve.steps.length > 1 ? "lines" : "markers", name: plotText(`#${run.id} ${run.name}`),
        x: curve.steps, y: curve.values,
        line: { color: colorOf.get(run.id), width: 2, dash: run.completed ? "solid" : "dot" },
      };
    });
    draw(chart, data, { xaxis: { title: { text: "step" }, gridcolor: "#edf0f4" }, showlegend: data.length <= 12 })
      .catch((error) => fill(chart, errorBox(error, "Chart unavailable")));
  }
}
