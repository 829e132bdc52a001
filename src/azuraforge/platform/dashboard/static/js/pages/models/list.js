// Models: every registered model, paged on the server, with its latest version and where
// its aliases point; a new model can be created here (its versions come from runs).

import { api } from "../../api.js";
import { csvLink } from "../../csvlink.js";
import { navigate, replaceQuery } from "../../router.js";
import { errorBox, fill, h, loading, offsetPager, time } from "../../ui.js";
import { aliasChips, createModelDialog } from "./shared.js";

const LIMIT = 50;

export async function renderList(main, { query }) {
  let offset = Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0);
  const tableBox = h("div", { class: "table-wrap", id: "models-table" }, loading("Loading models…"));
  const pager = h("div", { class: "pager" });
  const errorArea = h("div");

  fill(main,
    h("div", { class: "page-head" },
      h("h1", {}, "Models"),
      h("button", { class: "primary", id: "create-model", onclick: create }, "Create model"),
      csvLink("/models", { id: "models-csv", filename: "models.csv", title: "Every model, as CSV" }),
      h("span", { class: "sub" }, "Registered models and their versions. A version is the model of a completed run: register one from the run's page or the model's page.")),
    h("div", { class: "card" }, errorArea, tableBox, pager));

  async function create() {
    const model = await createModelDialog();
    if (model) navigate(`#/models/${encodeURIComponent(model.name)}`);
  }

  async function load() {
    tableBox.setAttribute("aria-busy", "true");
    try {
      const page = await api.get("/models", { offset, limit: LIMIT });
      fill(errorArea);
      draw(page);
    } catch (error) {
      fill(errorArea, errorBox(error, "The models could not be listed"));
      fill(tableBox);
    }
    tableBox.removeAttribute("aria-busy");
  }

  function draw(page) {
    const body = h("tbody", {}, page.data.map((model) => {
      const link = `#/models/${encodeURIComponent(model.name)}`;
      return h("tr", { dataset: { model: model.name } },
        h("td", { class: "name", title: model.name }, h("a", { href: link }, model.name)),
        h("td", { class: "muted small models-description", title: model.description }, model.description || ""),
        h("td", { class: "num" }, model.latest_version ? `v${model.latest_version}` : h("span", { class: "muted" }, "none")),
        h("td", {}, aliasChips(model.aliases)),
        h("td", { class: "nowrap small" }, time(model.updated_at)));
    }));
    if (!page.data.length) {
      body.append(h("tr", {}, h("td", { colspan: "5", class: "empty" },
        page.total ? "No models on this page." : "No models yet. Create one, then register a completed run's model as its first version.")));
    }
    fill(tableBox, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Description"), h("th", { class: "num" }, "Latest"), h("th", {}, "Aliases"), h("th", {}, "Updated"))),
      body));
    offsetPager(pager, { offset, limit: LIMIT, shown: page.data.length, total: page.total, go, id: "models" });
  }

  function go(to) {
    offset = to;
    replaceQuery(new URLSearchParams(offset ? { offset: String(offset) } : {}));
    load();
  }

  await load();
  return () => {};
}
