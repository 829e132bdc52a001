// Charts on Plotly.js, loaded once on the first page that draws one (from the plotly Python
// package's bundled file, served by the API: no CDN).

const PLOTLY_URL = "/ui/vendor/plotly.min.js";
let loaded = null;

/** Plotly, loaded on first use. */
export function plotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loaded) {
    loaded = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = PLOTLY_URL;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        loaded = null;
        reject(new Error("Plotly.js could not be loaded from the server; charts are unavailable"));
      };
      document.head.append(script);
    });
  }
  return loaded;
}

export const STATUS_COLORS = {
  completed: "#2458d6",
  running: "#12a4b6",
  queued: "#9aa3b2",
  failed: "#d32f2f",
  cancelled: "#ef8d00",
  lost: "#8e44ad",
  pruned: "#7b8494",
};

export const PALETTE = ["#2458d6", "#e4572e", "#17a673", "#a23cc4", "#f2a541", "#1b998b", "#c5283d", "#5d6d7e", "#7768ae", "#3c91e6"];

export const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

/** The layout every chart starts from, with `extra` merged in. */
export function layout(extra = {}) {
  return {
    margin: { l: 58, r: 18, t: 10, b: 40 },
    font: { family: "system-ui, sans-serif", size: 12, color: "#1d2330" },
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
    hovermode: "x unified",
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    xaxis: { gridcolor: "#edf0f4", zeroline: false, automargin: true },
    yaxis: { gridcolor: "#edf0f4", zeroline: false, automargin: true },
    ...extra,
  };
}

/** Draw (or redraw) `data` in `element`. */
export async function draw(element, data, extraLayout = {}) {
  const Plotly = await plotly();
  await Plotly.react(element, data, layout(extraLayout), CONFIG);
  return element;
}

/** Free what Plotly holds for the charts inside `container`. */
export function release(container) {
  if (!window.Plotly || !container) return;
  for (const chart of container.querySelectorAll(".js-plotly-plot")) window.Plotly.purge(chart);
}

/** A y range around curves that all hold one value (a constant learning rate): Plotly
 * would centre it in ±1, flat on zero for 0.002. Undefined (Plotly's own range) otherwise. */
function flatRange(data) {
  let low = Infinity;
  let high = -Infinity;
  for (const trace of data) {
    for (const value of trace.y) {
      low = Math.min(low, value);
      high = Math.max(high, value);
    }
  }
  if (high - low > 1e-12 * Math.max(1, Math.abs(high))) return undefined;
  const pad = Math.abs(high) * 0.5 || 1;
  return [low - pad, high + pad];
}

/**
 * Curves that grow while a run is live: `set(curves)` replaces them ({key: {steps, values}}),
 * `add(key, step, value)` appends a point; the chart is redrawn at most once a frame.
 * `keys(key)` says which curves this chart shows; `empty` (an element) is removed at the first
 * drawing.
 */
export function liveCurves(element, { keys, yTitle = "", empty = null }) {
  const curves = new Map();
  let pending = false;
  let revision = 0;

  function redraw() {
    pending = false;
    revision += 1;
    const data = [...curves.entries()].map(([key, curve], index) => ({
      type: "scatter", mode: curve.steps.length > 1 ? "lines" : "markers", name: plotLabel(key),
      x: curve.steps, y: curve.values, line: { color: PALETTE[index % PALETTE.length], width: 2 },
    }));
    if (!data.length) return;
    if (empty) empty.remove();
    const yaxis = { title: { text: plotLabel(yTitle) }, gridcolor: "#edf0f4", range: flatRange(data) };
    // The legend even for one curve: the chart's only label of what it draws (lr, accuracy).
    draw(element, data, { datarevision: revision, showlegend: true, xaxis: { title: { text: "step" }, gridcolor: "#edf0f4" }, yaxis })
      .catch(() => {}); // Plotly not loaded (the server is gone): the next points draw it again
  }

  function schedule() {
    if (!pending) {
      pending = true;
      requestAnimationFrame(redraw);
    }
  }

  return {
    set(all) {
      curves.clear();
      for (const [key, curve] of Object.entries(all).sort(([a], [b]) => a.localeCompare(b))) {
        if (keys(key)) curves.set(key, { steps: [...curve.steps], values: [...curve.values] });
      }
      schedule();
    },
    add(key, step, value) {
      if (!keys(key)) return;
      if (!curves.has(key)) curves.set(key, { steps: [], values: [] });
      const curve = curves.get(key);
      curve.steps.push(step);
      curve.values.push(value);
      schedule();
    },
  };
}

/** A tick of a log axis in real units: 0.001, 1e-4, 3.16e-4, 2.5e+6. */
export function realTick(value) {
  const rounded = Number(value.toPrecision(3));
  return rounded >= 1e-3 && rounded < 1e6 ? String(rounded) : rounded.toExponential();
}

/**
 * The tick and extent labels of a parallel-coordinates chart's log axes (those titled
 * `labels`) in real values: Plotly writes their log10 (-3 for 0.001). Call it after each
 * draw, restyle and afterplot.
 */
export function relabelLogAxes(element, labels) {
  const logLabels = new Set(labels);
  for (const group of element.querySelectorAll(".y-axis")) {
    if (!logLabels.has(group.querySelector(".axis-title")?.textContent)) continue;
    for (const text of group.querySelectorAll(".tick text, text.axis-extent-text")) {
      if (text.textContent === text.dataset.real) continue; // relabelled, and not redrawn since
      const exponent = Number(text.textContent.replace("\u2212", "-"));
      if (text.textContent && Number.isFinite(exponent)) {
        text.textContent = realTick(10 ** exponent);
        text.dataset.real = text.textContent;
      }
    }
  }
}

// ---- parallel coordinates ---------------------------------------------------------------------

export const MISSING = "n/a";

/**
 * A numeric axis of a parallel-coordinates chart over `low`..`high` (values already on the
 * axis' scale: log10 for a `log` axis, relabelled in real values once drawn). A missing
 * value (null) sits just below `low`, where an "n/a" note marks it. No tickvals: Plotly
 * would take the axis as ordinal and snap brushes to its ticks.
 */
export function numericAxis(label, values, low, high, { log = false } = {}) {
  const missing = values.some((v) => v === null || v === undefined);
  const span = high - low || Math.abs(low) || 1;
  const gap = low - span * 0.15;
  const range = [missing ? gap : low === high ? low - span / 2 : low, low === high ? high + span / 2 : high];
  const dimension = { label, values: values.map((v) => (v === null || v === undefined ? gap : v)), range };
  return { dimension, log, missing };
}

/** A categorical axis: `labels` as ticks, each value at the index `keys` gives its key (`key(v)`);
 * a missing value at an "n/a" tick below. */
export function categoryAxis(label, values, labels, keys, key) {
  const missing = values.some((v) => v === null || v === undefined);
  const codes = values.map((v) => (v === null || v === undefined ? -1 : keys.indexOf(key(v))));
  const tickvals = labels.map((_, i) => i);
  const ticktext = [...labels];
  if (missing) {
    tickvals.unshift(-1);
    ticktext.unshift(MISSING);
  }
  const range = [missing ? -1 : 0, Math.max(labels.length - 1, 0.5)];
  return { dimension: { label, values: codes, tickvals, ticktext, range }, log: false, missing: false };
}

/** Plotly annotations: "n/a" beside the bottom of each numeric axis holding missing values. */
export function missingNotes(axes) {
  const last = Math.max(axes.length - 1, 1);
  return axes.map((axis, index) => (axis.missing ? {
    xref: "paper", yref: "paper", x: index / last, y: 0, text: MISSING, showarrow: false,
    xanchor: "left", yanchor: "middle", xshift: 6, font: { size: 10, color: STATUS_COLORS.failed },
  } : null)).filter(Boolean);
}

/**
 * Keep a drawn parallel-coordinates chart's axes readable: log axes in real values, the
 * bottom end of an axis with missing values (the "n/a" row, not a value) unlabelled. Done
 * now and after every redraw Plotly makes (brushing, dragging an axis).
 */
export function tidyParallelAxes(element, axes) {
  element.parallelAxes = axes;
  const tidy = () => {
    const shown = element.parallelAxes;
    relabelLogAxes(element, shown.filter((axis) => axis.log).map((axis) => axis.dimension.label));
    const missing = new Set(shown.filter((axis) => axis.missing).map((axis) => axis.dimension.label));
    for (const group of element.querySelectorAll(".y-axis")) {
      const bottom = group.querySelector("text.axis-extent-bottom-text");
      if (bottom && missing.has(group.querySelector(".axis-title")?.textContent)) bottom.textContent = "";
    }
  };
  tidy();
  if (!element.dataset.tidied) {
    element.dataset.tidied = "1";
    for (const event of ["plotly_afterplot", "plotly_restyle"]) element.on(event, tidy);
  }
}

/** Text for Plotly, which reads a subset of HTML in names and titles: `<` and `>` escaped,
 * so a run named "<b>x</b>" shows as written. */
export function plotText(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Text from the API (a metric, a setting, a choice) for a Plotly title, label or
 * hovertemplate: Plotly reads a subset of HTML there (`plotText` escapes it) and fills
 * `%{...}` in titles and templates, so `%` goes in as `&#37;` (shown as %).
 */
export function plotLabel(text) {
  return plotText(text).replace(/%/g, "&#37;");
}

/**
 * The dimensions of a parallel-coordinates chart from `axes` (`{ dimension }` each), their
 * labels and category names escaped for Plotly; the axes keep them as written, which is how
 * `tidyParallelAxes` finds them among the drawn titles.
 */
export function parallelDimensions(axes) {
  return axes.map(({ dimension }) => ({ ...dimension, label: plotLabel(dimension.label), ticktext: dimension.ticktext?.map(plotLabel) }));
}
