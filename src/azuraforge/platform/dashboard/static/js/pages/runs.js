// Runs: every run of the project, filtered, sorted and paged on the server (fast at
// 100,000 runs), with live status and progress from the project's event stream; select
// several to compare, cancel or delete them.

import { api, stream } from "../api.js";
import { navigate, replaceQuery } from "../router.js";
import { FINISHED, debounce, dialog, eachLimited, errorBox, fill, h, loading, offsetPager, throttle, toast } from "../ui.js";
import { columnChooser, csvAddress } from "./runs/columns.js";
import { filterControls } from "./runs/filters.js";
import { PAGE_SIZES, apiQuery, filtered, queryOf, stateOf } from "./runs/query.js";
import { drawTable, loggedKeys } from "./runs/table.js";

const DESCENDING_FIRST = new Set(["id", "progress", "created_at"]);
const MOST_COMPARED = 100;
const REFRESH_MS = 1000;
/** The statuses a run not on the page arrives with: queued (submitted), running (written by
 * a client: an external or MLflow run). */
const ARRIVING = new Set(["queued", "running"]);

export async function render(main, { query }) {
  const state = stateOf(query);
  const selected = new Set();
  let page = null;
  let rows = new Map();
  let controller = null;

  const tableBox = h("div", { class: "table-wrap", id: "runs-table" }, loading("Loading runs…"));
  const pager = h("div", { class: "pager" });
  const selection = h("span", { class: "muted small" });
  // The score columns chosen go along as the comparison's axes.
  const compared = () => `#/compare?experiments=${[...selected].join(",")}${state.columns.length ? `&scores=${encodeURIComponent(state.columns.join(","))}` : ""}`;
  const compareButton = h("button", { id: "compare-selected", onclick: () => navigate(compared()) }, "Compare");
  const cancelButton = h("button", { id: "cancel-selected", onclick: () => bulk("cancel") }, "Cancel");
  const deleteButton = h("button", { id: "delete-selected", class: "danger", onclick: () => bulk("delete") }, "Delete");
  const errorArea = h("div");
  const filters = filterControls(state, update, (message) => fill(errorArea, errorBox(new Error(message), "Filter not applied")));
  const columns = columnChooser(state, update);
  const csvLink = h("a", { class: "button", id: "export-csv", download: "runs.csv", title: "Every run these filters keep, as CSV" }, "CSV");

  fill(main,
    h("div", { class: "page-head" }, h("h1", {}, "Runs"), h("a", { class: "button primary", href: "#/launch" }, "Launch a run")),
    h("div", { class: "card" },
      h("div", { class: "toolbar" }, filters.search, filters.rest),
      h("div", { class: "toolbar" }, filters.chips, h("span", { class: "spacer" }), selection, compareButton, cancelButton, deleteButton, columns.chooser, csvLink),
      errorArea, tableBox, pager));

  function update(changes, keepOffset = false) {
    Object.assign(state, changes);
    if (!keepOffset) state.offset = 0;
    replaceQuery(queryOf(state));
    load();
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const started = performance.now();
    tableBox.setAttribute("aria-busy", "true");
    try {
      page = await api.get("/runs", apiQuery(state), { signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      tableBox.removeAttribute("aria-busy");
      if (!page) fill(tableBox);
      fill(errorArea, errorBox(error, "The runs could not be listed"));
      return;
    }
    fill(errorArea);
    csvLink.href = csvAddress(state);
    draw();
    tableBox.removeAttribute("aria-busy");
    tableBox.dataset.query = queryOf(state).toString();
    tableBox.dataset.renderMs = (performance.now() - started).toFixed(1);
    performance.mark("runs:rendered", { detail: tableBox.dataset.query });
  }

  function draw() {
    const keys = loggedKeys(page.data);
    filters.showKeys(keys);
    const empty = filtered(state) ? "No run matches these filters."
      : h("span", {}, "No runs yet. ", h("a", { href: "#/launch" }, "Launch one"), " or run `azuraforge submit weather-forecaster`.");
    rows = drawTable(tableBox, page.data, state, {
      keys, selected, onSelect: drawSelection, onSort: sortBy, empty, onGroup: (group) => { filters.showGroup(group); update({ group }); },
    });
    offsetPager(pager, {
      offset: state.offset, limit: state.limit, shown: page.data.length, total: page.total, exact: page.total_exact,
      go: (offset) => update({ offset }, true), sizes: PAGE_SIZES, onSize: (limit) => update({ limit }),
    });
    drawSelection();
  }

  function sortBy(key) {
    const descending = state.sort === key ? state.order !== "desc" : DESCENDING_FIRST.has(key);
    update({ sort: key, order: descending ? "desc" : "asc" });
  }

  function drawSelection() {
    const count = selected.size;
    fill(selection, count ? [`${count} selected · `, h("button", { class: "link small", onclick: () => { selected.clear(); draw(); } }, "clear")] : null);
    compareButton.disabled = count < 2 || count > MOST_COMPARED;
    compareButton.title = count > MOST_COMPARED ? `Compare at most ${MOST_COMPARED} runs` : "Select 2 or more runs";
    cancelButton.disabled = deleteButton.disabled = count === 0;
  }

  async function bulk(action) {
    const ids = [...selected];
    const cancelling = action === "cancel";
    const ok = await dialog({
      title: `${cancelling ? "Cancel" : "Delete"} ${ids.length} run${ids.length > 1 ? "s" : ""}?`,
      body: cancelling
        ? "Queued runs stop at once; running ones at their next batch, keeping their metrics so far."
        : "Their metrics, logs and files are deleted for good. Running runs must be cancelled first.",
      confirm: cancelling ? "Cancel" : "Delete", danger: !cancelling,
    });
    if (!ok) return;
    const outcomes = await eachLimited(ids, 4, (id) => (cancelling ? api.post(`/runs/${id}/cancel`) : api.delete(`/runs/${id}`)));
    const failed = outcomes.filter((o) => o.error);
    const done = outcomes.length - failed.length;
    if (!cancelling) for (const o of outcomes) if (!o.error) selected.delete(o.item);
    if (done) toast(`${cancelling ? "Cancelled" : "Deleted"} ${done} run${done > 1 ? "s" : ""}.`, "ok");
    await load();
    if (failed.length) {
      const lines = failed.slice(0, 5).map((o) => `run ${o.item}: ${o.error.message}`).join("\n");
      fill(errorArea, errorBox(new Error(lines), `${failed.length} could not be ${cancelling ? "cancelled" : "deleted"}`));
    }
  }

  // Live: status and progress of the runs on the page move as the workers report; a new or
  // finished run brings a fresh page, at most once a second while events keep coming. A new
  // run is queued, or running at once when a client writes it (an external or MLflow run).
  // The stream's events start where it opened: the page is read again then, for a run that
  // came between the first read and the stream. After a drop it resumes after the last event
  // received (what came meanwhile arrives as messages, once), and the page is still read
  // again: a run deleted meanwhile is no event; a stream that cannot resume (a reset) too.
  // A run a client writes gets what the client set with it just after it is made (an MLflow
  // run its experiment, which is its group, and its tags): the page is read once more a
  // second after the last new run.
  const refresh = throttle(() => load(), REFRESH_MS);
  const settle = debounce(() => load(), REFRESH_MS);
  const live = stream("/events", {
    reconnect: true,
    onOpen: () => load(),
    onMessage(message) {
      const shown = rows.get(message.experiment_id);
      if (shown) shown.update(message);
      if (message.type !== "status") return;
      if (shown ? FINISHED.has(message.status) : ARRIVING.has(message.status)) refresh();
      if (!shown && ARRIVING.has(message.status)) settle();
    },
  });

  await load();
  filters.listPipelines();
  api.get("/runs/scores/names").then(({ names }) => columns.showNames(names)).catch(() => {});
  return () => {
    live.close();
    refresh.cancel();
    settle.cancel();
    filters.cancel();
    if (controller) controller.abort();
  };
}
