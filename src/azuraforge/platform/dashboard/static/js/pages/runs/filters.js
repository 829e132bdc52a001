// The runs listing's filters: text, pipeline, batch, group, a metric's range, ranges of
// scores and statuses, plus a sort by any metric the page's runs logged.

import { api } from "../../api.js";
import { STATUSES, debounce, h, statusChips } from "../../ui.js";

/**
 * The filter controls over `state`; `update(changes)` applies a change, `refuse(message)`
 * explains one not applied. Returns `{search, rest, chips, showKeys(keys), listPipelines(),
 * showGroup(name), cancel()}`.
 */
export function filterControls(state, update, refuse) {
  const search = h("input", {
    type: "search", placeholder: "Search names and pipelines", value: state.q, "aria-label": "Search",
  });
  const typed = debounce(() => update({ q: search.value.trim() }), 300);
  search.addEventListener("input", typed);
  const pipelines = h("select", { "aria-label": "Pipeline", onchange: (e) => update({ pipeline: e.target.value }) },
    h("option", { value: "" }, "All pipelines"),
    state.pipeline ? h("option", { value: state.pipeline, selected: true }, state.pipeline) : null);
  const batch = h("input", { type: "text", placeholder: "batch id", value: state.batch_id, "aria-label": "Batch", class: "number", style: { width: "8rem" }, onchange: (e) => update({ batch_id: e.target.value.trim() }) });
  // A run's group: its MLflow experiment's name, else its pipeline (track's experiment=).
  const group = h("input", {
    type: "text", id: "group-filter", placeholder: "group", value: state.group, "aria-label": "Group", class: "number",
    title: "Runs of an MLflow experiment (by its name), or of a pipeline", style: { width: "8rem" },
    onchange: (e) => update({ group: e.target.value.trim() }),
  });
  const metricName = h("input", { type: "text", placeholder: "metric", value: state.metric, list: "metric-keys", "aria-label": "Metric to filter on", class: "number", style: { width: "9rem" } });
  const metricMin = h("input", { type: "text", inputmode: "decimal", placeholder: "min", value: state.metric_min, "aria-label": "Metric at least", class: "number" });
  const metricMax = h("input", { type: "text", inputmode: "decimal", placeholder: "max", value: state.metric_max, "aria-label": "Metric at most", class: "number" });
  const metricKeys = h("datalist", { id: "metric-keys" });
  const sortMetric = h("select", { "aria-label": "Sort by a metric", id: "sort-metric", onchange: (e) => {
    if (e.target.value) update({ sort: `metric:${e.target.value}`, order: "asc" });
  } });

  function applyMetric() {
    const values = { metric: metricName.value.trim(), metric_min: metricMin.value.trim(), metric_max: metricMax.value.trim() };
    for (const key of ["metric_min", "metric_max"]) {
      if (values[key] !== "" && !Number.isFinite(Number(values[key]))) {
        refuse(`${key.replace("metric_", "")} must be a number, got "${values[key]}"`);
        return;
      }
    }
    if ((values.metric_min || values.metric_max) && !values.metric) {
      refuse("name the metric the range applies to");
      return;
    }
    update(values);
  }
  for (const input of [metricName, metricMin, metricMax]) input.addEventListener("change", applyMetric);
  // Comma-separated <name><op><number>; the server says which part of one is wrong.
  const scoreFilter = h("input", {
    type: "text", id: "score-filter", placeholder: "scores: metrics.MAE.model<0.5, …", value: state.score.join(", "),
    "aria-label": "Score filter", title: "Runs whose scores pass each filter: <name><op><number>, op one of < <= > >= =; metric:<key> for a metric's last value",
    style: { width: "16rem" },
    onchange: (e) => update({ score: e.target.value.split(",").map((part) => part.trim()).filter(Boolean) }),
  });

  const chips = statusChips(STATUSES, {
    selected: state.status,
    onToggle: (status, on) => update({ status: on ? [...state.status, status] : state.status.filter((s) => s !== status) }),
  });

  return {
    search,
    rest: [pipelines, batch, group, metricName, metricMin, metricMax, metricKeys, scoreFilter, sortMetric],
    chips,
    /** Offer `keys` (the metrics the shown runs logged) to the metric filter and the sort. */
    showKeys(keys) {
      metricKeys.replaceChildren(...keys.map((key) => h("option", { value: key })));
      const sorted = state.sort.startsWith("metric:") ? state.sort.slice(7) : "";
      const offered = sorted && !keys.includes(sorted) ? [sorted, ...keys] : keys;
      sortMetric.replaceChildren(h("option", { value: "" }, "Sort by metric…"),
        ...offered.map((key) => h("option", { value: key, selected: key === sorted }, key)));
    },
    /** Fill the pipeline choices (after the runs: the table comes first). */
    listPipelines() {
      api.get("/pipelines").then(({ data }) => {
        for (const pipeline of data) {
          if (pipeline.name !== state.pipeline) pipelines.append(h("option", { value: pipeline.name }, pipeline.name));
        }
      }).catch(() => pipelines.append(h("option", { disabled: true }, "(pipelines unavailable)")));
    },
    /** Show `name` as the group filtered on (a group clicked in the table). */
    showGroup(name) {
      group.value = name;
    },
    cancel() {
      typed.cancel();
    },
  };
}
