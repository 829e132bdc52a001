// Streams: newest first, with status, worker, events taken, events a second and lag, the
// champion's accuracy beside the best trivial rule's (named), what trading its champion
// returned beside buy and hold over the same steps, and restarts; the page refreshes itself
// while a stream on it runs.

import { api } from "../../api.js";
import { csvLink } from "../../csvlink.js";
import { badge, errorBox, fill, h, loading } from "../../ui.js";
import { percent } from "./shared.js";

const REFRESH_MS = 3000;

export async function renderList(main) {
  let timer = null;
  const tableBox = h("div", { class: "table-wrap", id: "streams-table" }, loading("Loading streams…"));
  const errorArea = h("div");
  fill(main,
    h("div", { class: "page-head" }, h("h1", {}, "Streams"), h("a", { href: "#/streams/new", id: "stream-new" }, "Start a stream →"),
      csvLink("/streams", { id: "streams-csv", filename: "streams.csv", title: "Every stream, as CSV" }),
      h("span", { class: "sub" }, "Continuous learning: a champion and its candidates learn a price's next direction one event at a time, on the workers.")),
    h("div", { class: "card" }, errorArea, tableBox));

  async function load() {
    clearTimeout(timer);
    let page;
    try {
      page = await api.get("/streams", { limit: 100 });
    } catch (error) {
      fill(errorArea, errorBox(error, "The streams could not be listed"));
      timer = setTimeout(load, REFRESH_MS * 2);
      return;
    }
    fill(errorArea);
    const rows = page.data.map((stream) => {
      const rule = stream.best_rule;
      const signed = (value) => (value == null ? "–" : `${value >= 0 ? "+" : ""}${(100 * value).toFixed(1)} %`);
      const link = `#/streams/${stream.id}`;
      return h("tr", { dataset: { id: String(stream.id) } },
        h("td", { class: "num" }, h("a", { href: link }, String(stream.id))),
        h("td", { class: "name" }, h("a", { href: link }, stream.name)),
        h("td", { title: stream.error || "" }, badge(stream.status)),
        h("td", {}, `${stream.learner} on ${stream.source}`),
        h("td", { class: "num" }, stream.events.toLocaleString("en-US")),
        h("td", { class: "num" }, stream.events_per_second == null ? "–" : Math.round(stream.events_per_second).toLocaleString("en-US")),
        h("td", { class: "num" }, stream.lag == null ? "–" : `${stream.lag.toFixed(0)} s`),
        h("td", { class: "num" }, percent(stream.scores["champion/accuracy"])),
        h("td", { class: "num", dataset: { field: "best-rule" } }, rule ? `${rule} ${percent(stream.scores[`${rule}/accuracy`])}` : "–"),
        h("td", { class: "num", dataset: { field: "return" } }, signed(stream.scores["champion/return"])),
        h("td", { class: "num", dataset: { field: "buy-and-hold" } }, signed(stream.scores["champion/buy_and_hold_return"])),
        h("td", { class: "small" }, stream.worker || "–"),
        h("td", { class: "num" }, String(stream.restarts)));
    });
    if (!rows.length) {
      rows.push(h("tr", {}, h("td", { colspan: "13", class: "empty" }, "No streams yet: start one here (Start a stream), with `azuraforge stream start btc-hourly`, or POST /api/v1/streams.")));
    }
    fill(tableBox, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "ID"), h("th", {}, "Name"), h("th", {}, "Status"), h("th", {}, "Learner"),
        h("th", { class: "num" }, "Events"), h("th", { class: "num" }, "Events/s"), h("th", { class: "num", title: "Seconds since its last checkpoint, while it runs" }, "Lag"),
        h("th", { class: "num" }, "Champion accuracy"), h("th", { class: "num" }, "Best rule"),
        h("th", { class: "num", title: "Trading the champion's predictions (long at 50 % or more), net of 0.1 % a change" }, "Return"),
        h("th", { class: "num", title: "Over the same steps" }, "Buy and hold"),
        h("th", {}, "Worker"), h("th", { class: "num" }, "Restarts"))),
      h("tbody", {}, rows)));
    if (page.data.some((stream) => ["queued", "running"].includes(stream.status))) timer = setTimeout(load, REFRESH_MS);
  }

  await load();
  return () => clearTimeout(timer);
}
