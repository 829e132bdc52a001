// Nights (#/assist/nights): the project's nightly passes, the newest first, and a pass run
// now by hand. Once a pass completed, its report: the turns it read (when, how many, of how
// many users), the facts it kept in their users' memories, the failure patterns per intent,
// expert and backend, the examples waiting for review and for a fine-tune, the fine-tunes it
// started (or why not). The page reads the list again while a pass is queued or running.

import { api } from "../../api.js";
import { replaceQuery } from "../../router.js";
import { FINISHED, badge, errorBox, fill, h, keyValues, loading, number, offsetPager, time, toast } from "../../ui.js";
import { perExpert, refused } from "./shared.js";

const LIMIT = 20;
const REFRESH_MS = 1500;

export async function renderNights(main, { query }) {
  let offset = Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0);
  let first;
  try {
    first = await api.get("/assist/nights", { offset, limit: LIMIT });
  } catch (error) {
    refused(main, "Nights", error);
    return null;
  }
  const list = h("div", { class: "nights", id: "nights" });
  const pager = h("div", { class: "pager" });
  const problem = h("div");
  const runNow = h("button", { type: "button", class: "primary", id: "night-run", onclick: async () => {
    runNow.disabled = true;
    try {
      const night = await api.post("/assist/nights");
      toast(`Queued ${night.name}.`, "ok");
      offset = 0;
      replaceQuery(new URLSearchParams());
      await load();
    } catch (error) {
      toast(error.message, "error");
    } finally {
      runNow.disabled = false;
    }
  } }, "Run a pass now");
  let timer = null;
  let left = false;

  fill(main,
    h("div", { class: "page-head" }, h("h1", {}, "Nights"), h("a", { href: "#/assist/examples" }, "Review examples →"), runNow,
      h("span", { class: "sub" }, "Each night the assistant reads the day's turns: it keeps the facts users stated about themselves, reports where its answers failed, and starts the fine-tune of each expert with enough approved examples.")),
    problem, list, pager);

  function draw(page) {
    fill(list, page.data.length ? page.data.map(nightCard) : h("div", { class: "card empty" }, page.total ? "No passes on this page." :
      "No nightly pass yet: one runs each night after assist_nightly_hour (UTC) while assist_nightly is on, or run one now."));
    offsetPager(pager, { offset, limit: LIMIT, shown: page.data.length, total: page.total, go, labels: ["Newer", "Older"], id: "nights" });
    clearTimeout(timer);
    if (!left && page.data.some((night) => !FINISHED.has(night.status))) timer = setTimeout(load, REFRESH_MS);
  }

  async function load() {
    clearTimeout(timer);
    try {
      const page = await api.get("/assist/nights", { offset, limit: LIMIT });
      fill(problem);
      if (!left) draw(page);
    } catch (error) {
      fill(problem, errorBox(error, "The nightly passes could not be listed"));
      if (!left) timer = setTimeout(load, REFRESH_MS * 2);
    }
  }

  function go(to) {
    offset = to;
    replaceQuery(new URLSearchParams(offset ? { offset: String(offset) } : {}));
    fill(list, loading());
    load();
  }

  draw(first);
  return () => {
    left = true;
    clearTimeout(timer);
  };
}

function nightCard(night) {
  return h("article", { class: "card night", dataset: { id: String(night.id), status: night.status } },
    h("div", { class: "night-head" }, h("h2", { class: "inline" }, h("a", { href: `#/runs/${night.id}` }, night.name)), badge(night.status),
      h("span", { class: "muted small" }, `queued ${time(night.created_at)}`, night.finished_at ? ` · ended ${time(night.finished_at)}` : "")),
    night.error ? errorBox(new Error(night.error), "The pass failed") : null,
    night.report ? report(night.report) : h("p", { class: "muted small" }, FINISHED.has(night.status) ? "No report." : "Its report comes once it completes."));
}

function report(r) {
  return h("div", { class: "night-report" },
    keyValues([
      ["Turns read", `${time(r.since)} → ${time(r.until)}`],
      ["Turns", h("span", { class: "night-turns" }, number(r.turns))],
      ["Users", number(r.users)],
      ["Examples to review", h("span", { class: "night-candidates" }, number(r.candidates), r.candidates ? h("span", {}, " · ", h("a", { href: "#/assist/examples" }, "review them")) : null)],
      ["Approved, waiting for a fine-tune", h("span", { class: "night-waiting" }, perExpert(r.waiting))],
    ]),
    h("h3", {}, "Failure patterns"), patterns(r.patterns || []),
    h("h3", {}, "Facts kept"), facts(r),
    h("h3", {}, "Fine-tunes"), fineTunes(r.fine_tunes || []));
}

const PATTERN_COLUMNS = [
  ["intent", "Intent"], ["expert", "Expert"], ["answered_by", "Answered by"], ["answers", "Answers", true],
  ["bad", "Bad", true], ["corrected", "Corrected", true], ["failed_checks", "Failed checks", true],
];

function patterns(rows) {
  if (!rows.length) return h("p", { class: "muted small" }, "No answers in these turns.");
  return h("div", { class: "table-wrap" }, h("table", { class: "night-patterns" },
    h("thead", {}, h("tr", {}, PATTERN_COLUMNS.map(([, label, numeric]) => h("th", { class: numeric ? "num" : "" }, label)), h("th", { class: "num" }, "Failure rate"))),
    h("tbody", {}, rows.map((p) => h("tr", {},
      PATTERN_COLUMNS.map(([key, , numeric]) => h("td", { class: numeric ? "num" : "", dataset: { key } }, numeric ? number(p[key]) : p[key])),
      h("td", { class: `num${p.failure_rate > 0 ? " worse" : ""}`, dataset: { key: "failure_rate" } }, `${(p.failure_rate * 100).toFixed(1)} %`))))));
}

function facts(r) {
  if (!r.facts?.length) {
    return h("p", { class: "muted small" }, r.memory === false ? "None: the long-term memory is off (assist_memory)." : "None stated in these turns.");
  }
  return h("div", { class: "table-wrap" }, h("table", { class: "night-facts" },
    h("thead", {}, h("tr", {}, h("th", {}, "User"), h("th", {}, "Fact"), h("th", { class: "num" }, "Turn"))),
    h("tbody", {}, r.facts.map((f) => h("tr", {}, h("td", {}, f.user), h("td", { class: "night-fact" }, f.fact), h("td", { class: "num" }, String(f.turn)))))));
}

function fineTunes(started) {
  if (!started.length) return h("p", { class: "muted small" }, "None: no expert had enough approved examples waiting (assist_fine_tune_after).");
  return h("ul", { class: "night-fine-tunes" }, started.map((f) => h("li", {}, h("strong", {}, f.expert), " — ",
    f.run === null ? "not started" : h("a", { href: `#/runs/${f.run}` }, `run ${f.run}`), `: ${f.why}`)));
}
