// A study's trials, paged, sorted and filtered on the server (GET /studies/{id}/trials): a page
// costs the same at 10 trials or 10,000. The table's state lives in the address, so a page of
// trials can be shared.

import { api } from "../../api.js";
import { csvAddress } from "../../csvlink.js";
import { replaceQuery } from "../../router.js";
import { badge, errorBox, fill, h, loading, number, offsetPager, runTime, sortHeader, statusChips } from "../../ui.js";
import { valueText } from "./shared.js";

const PAGE_SIZES = [25, 50, 100, 200];
const STATUS_ORDER = ["queued", "running", "completed", "pruned", "failed", "cancelled", "lost", "complete", "fail", "waiting"];

function stateOf(query) {
  const sort = ["number", "value", "status"].includes(query.get("sort")) ? query.get("sort") : "number";
  return {
    sort,
    order: query.get("order") === "desc" ? "desc" : "asc",
    status: (query.get("status") || "").split(",").filter(Boolean),
    offset: Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0),
    limit: PAGE_SIZES.includes(Number(query.get("limit"))) ? Number(query.get("limit")) : 50,
  };
}

function queryOf(state) {
  const query = new URLSearchParams();
  if (state.sort !== "number") query.set("sort", state.sort);
  if (state.order !== "asc") query.set("order", state.order);
  if (state.status.length) query.set("status", state.status.join(","));
  if (state.offset) query.set("offset", String(state.offset));
  if (state.limit !== 50) query.set("limit", String(state.limit));
  return query;
}

/**
 * The trials card of study `study`: `{element, load(), setCounts(counts)}`. `load()` reads the
 * current page again (quietly: the old rows stay until the new ones are in).
 */
export function trialsTable(study, query) {
  const state = stateOf(query);
  const params = Object.keys(study.space);
  let controller = null;
  let page = null;
  let counts = {};
  const chips = h("div", { id: "trial-status-filter" });
  const tableBox = h("div", { class: "table-wrap", id: "study-trials" }, loading("Loading trials…"));
  const pager = h("div", { class: "pager" });
  const errorArea = h("div");
  const csv = h("a", { class: "button", id: "trials-csv", download: `study-${study.id}-trials.csv`, title: "Every trial these statuses keep, in this order, as CSV" }, "CSV");
  const element = h("div", { class: "card" },
    h("div", { class: "toolbar" }, h("h2", { class: "inline" }, "Trials"), h("span", { class: "spacer" }), chips, csv),
    errorArea, tableBox, pager);

  function update(changes, keepOffset = false) {
    Object.assign(state, changes);
    if (!keepOffset) state.offset = 0;
    replaceQuery(queryOf(state));
    drawChips();
    load();
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    tableBox.setAttribute("aria-busy", "true");
    const asked = { sort: state.sort, order: state.order, status: state.status.join(",") || undefined, offset: state.offset, limit: state.limit };
    try {
      page = await api.get(`/studies/${study.id}/trials`, asked, { signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      tableBox.removeAttribute("aria-busy");
      fill(errorArea, errorBox(error, "The trials could not be listed"));
      if (!page) fill(tableBox);
      return;
    }
    fill(errorArea);
    csv.href = csvAddress(`/studies/${study.id}/trials`, asked);
    draw();
    tableBox.removeAttribute("aria-busy");
    tableBox.dataset.query = queryOf(state).toString();
    performance.mark("study:trials", { detail: tableBox.dataset.query });
  }

  function sortBy(key) {
    const descending = state.sort === key ? state.order !== "desc" : key === "value" && study.direction === "maximize";
    update({ sort: key, order: descending ? "desc" : "asc" });
  }

  function draw() {
    const header = h("tr", {},
      sortHeader("#", { active: state.sort === "number", descending: state.order === "desc", numeric: true, onSort: () => sortBy("number"), title: "Sort by trial number" }),
      sortHeader("Status", { active: state.sort === "status", descending: state.order === "desc", onSort: () => sortBy("status") }),
      sortHeader(study.objective, { active: state.sort === "value", descending: state.order === "desc", numeric: true, onSort: () => sortBy("value"), title: `Sort by ${study.objective} (trials without one last)` }),
      params.map((name) => h("th", { class: "num" }, name)),
      h("th", { class: "num" }, "Run time"), h("th", {}, "Run"), h("th", {}, "Note"));
    const body = h("tbody", {}, page.data.map(row));
    if (!page.data.length) {
      body.append(h("tr", {}, h("td", { colspan: String(params.length + 6), class: "empty" },
        state.status.length ? "No trial has these statuses." : "No trial yet: the first ones are queued when the study starts.")));
    }
    fill(tableBox, h("table", {}, h("thead", {}, header), body));
    drawPager();
  }

  function row(trial) {
    const run = trial.run_id ? h("a", { href: `#/runs/${trial.run_id}` }, `run ${trial.run_id}`) : h("span", { class: "muted" }, "none");
    return h("tr", { dataset: { number: String(trial.number), status: trial.status } },
      h("td", { class: "num" }, String(trial.number)),
      h("td", {}, badge(trial.status)),
      h("td", { class: "num" }, number(trial.value, 6)),
      params.map((name) => h("td", { class: "num nowrap" }, valueText(trial.params[name]))),
      h("td", { class: "num nowrap" }, runTime(trial)),
      h("td", { class: "nowrap" }, run),
      h("td", { class: "small studies-note", title: trial.note || "" }, trial.note || ""));
  }

  function drawPager() {
    offsetPager(pager, {
      offset: state.offset, limit: state.limit, shown: page.data.length, total: page.total, id: "trials",
      go: (offset) => update({ offset }, true), sizes: PAGE_SIZES, onSize: (limit) => update({ limit }),
    });
  }

  function drawChips() {
    const shown = STATUS_ORDER.filter((status) => counts[status] || state.status.includes(status));
    fill(chips, statusChips(shown, {
      selected: state.status, counts,
      onToggle: (status, on) => update({ status: on ? [...state.status, status] : state.status.filter((s) => s !== status) }),
    }));
  }

  return {
    element,
    load,
    setCounts(next) {
      counts = next;
      drawChips();
    },
    cancel() {
      if (controller) controller.abort();
    },
  };
}
