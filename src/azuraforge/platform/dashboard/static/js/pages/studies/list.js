// Studies: every study of the project, newest first, paged on the server, with its status,
// how many trials of its budget ended and its best value so far; the page refreshes itself
// while a study on it runs.

import { api } from "../../api.js";
import { csvLink } from "../../csvlink.js";
import { replaceQuery } from "../../router.js";
import { badge, errorBox, fill, h, loading, number, offsetPager, progressBar, time } from "../../ui.js";
import { objectiveText } from "./shared.js";

const LIMIT = 50;
const REFRESH_MS = 4000;

export async function renderList(main, { query }) {
  let offset = Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0);
  let timer = null;
  let controller = null;
  let drawn = false;
  const tableBox = h("div", { class: "table-wrap", id: "studies-table" }, loading("Loading studies…"));
  const pager = h("div", { class: "pager" });
  const errorArea = h("div");

  fill(main,
    h("div", { class: "page-head" },
      h("h1", {}, "Studies"),
      h("a", { class: "button primary", href: "#/studies/new", id: "new-study" }, "New study"),
      csvLink("/studies", { id: "studies-csv", filename: "studies.csv", title: "Every study, as CSV" }),
      h("span", { class: "sub" }, "Hyper-parameter searches on Optuna: each trial is a run of the pipeline on the workers.")),
    h("div", { class: "card" }, errorArea, tableBox, pager));

  async function load() {
    clearTimeout(timer);
    if (controller) controller.abort();
    controller = new AbortController();
    tableBox.setAttribute("aria-busy", "true");
    let page;
    try {
      page = await api.get("/studies", { offset, limit: LIMIT }, { signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      tableBox.removeAttribute("aria-busy");
      fill(errorArea, errorBox(error, "The studies could not be listed"));
      if (!drawn) fill(tableBox);
      timer = setTimeout(load, REFRESH_MS * 2);
      return;
    }
    fill(errorArea);
    draw(page);
    drawn = true;
    tableBox.removeAttribute("aria-busy");
    if (page.data.some((study) => study.status === "running")) timer = setTimeout(load, REFRESH_MS);
  }

  function draw(page) {
    const body = h("tbody", {}, page.data.map(row));
    if (!page.data.length) {
      body.append(h("tr", {}, h("td", { colspan: "9", class: "empty" }, page.total ? "No studies on this page." :
        h("span", {}, "No studies yet. ", h("a", { href: "#/studies/new" }, "Start one"), " or run `azuraforge tune PIPELINE --space space.yaml`."))));
    }
    fill(tableBox, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "ID"), h("th", {}, "Name"), h("th", {}, "Pipeline"), h("th", {}, "Status"),
        h("th", {}, "Trials ended"), h("th", { class: "num" }, "Best"), h("th", {}, "Objective"), h("th", {}, "Sampler"), h("th", {}, "Created"))),
      body));
    offsetPager(pager, { offset, limit: LIMIT, shown: page.data.length, total: page.total, go, id: "studies" });
  }

  function row(study) {
    const link = `#/studies/${study.id}`;
    const bar = progressBar();
    bar.update(study.trials_finished / Math.max(study.n_trials, 1), `${study.trials_finished} of ${study.n_trials} trials ended`, study.status);
    return h("tr", { dataset: { id: String(study.id) } },
      h("td", { class: "num" }, h("a", { href: link }, String(study.id))),
      h("td", { class: "name", title: study.name }, h("a", { href: link }, study.name)),
      h("td", {}, study.pipeline),
      h("td", { title: study.error || "" }, badge(study.status)),
      h("td", { class: "studies-progress" }, bar, h("span", { class: "small muted nowrap" }, `${study.trials_finished.toLocaleString("en-US")} / ${study.n_trials.toLocaleString("en-US")}`)),
      h("td", { class: "num" }, number(study.best_value)),
      h("td", { class: "nowrap" }, objectiveText(study)),
      h("td", { class: "small" }, `${study.sampler} · ${study.pruner}`),
      h("td", { class: "nowrap small" }, time(study.created_at)));
  }

  function go(to) {
    offset = to;
    replaceQuery(new URLSearchParams(offset ? { offset: String(offset) } : {}));
    load();
  }

  await load();
  return () => {
    clearTimeout(timer);
    if (controller) controller.abort();
  };
}
