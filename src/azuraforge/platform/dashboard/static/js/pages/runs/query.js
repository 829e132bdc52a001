// The runs listing's state: read from and written to the page's address (so a view
// can be shared and reloaded), and turned into the API's query.

export const PAGE_SIZES = [25, 50, 100, 200];
const DEFAULTS = { sort: "id", order: "desc", offset: "0", limit: "50" };

/** The listing's state from the address' query. */
export function stateOf(query) {
  return {
    q: query.get("q") || "",
    status: (query.get("status") || "").split(",").filter(Boolean),
    pipeline: query.get("pipeline") || "",
    batch_id: query.get("batch_id") || "",
    group: query.get("group") || "",
    metric: query.get("metric") || "",
    metric_min: query.get("metric_min") || "",
    metric_max: query.get("metric_max") || "",
    score: (query.get("score") || "").split(",").filter(Boolean),
    columns: (query.get("columns") || "").split(",").filter(Boolean),
    sort: query.get("sort") || "id",
    order: query.get("order") === "asc" ? "asc" : "desc",
    offset: Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0),
    limit: PAGE_SIZES.includes(Number(query.get("limit"))) ? Number(query.get("limit")) : 50,
  };
}

/** The address' query for `state` (defaults left out). */
export function queryOf(state) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) {
    const text = Array.isArray(value) ? value.join(",") : String(value);
    if (text && DEFAULTS[key] !== text) query.set(key, text);
  }
  return query;
}

/** The query of GET /runs for `state`. */
export function apiQuery(state) {
  const ranged = state.metric !== "";
  return {
    q: state.q, status: state.status.length ? state.status.join(",") : undefined, pipeline: state.pipeline,
    batch_id: state.batch_id, group: state.group, metric: state.metric, metric_min: ranged ? state.metric_min : undefined,
    metric_max: ranged ? state.metric_max : undefined, score: state.score, sort: state.sort, order: state.order,
    offset: state.offset, limit: state.limit,
  };
}

/** Whether any filter narrows the listing. */
export function filtered(state) {
  return Boolean(state.q || state.status.length || state.pipeline || state.batch_id || state.group || state.metric || state.score.length);
}
