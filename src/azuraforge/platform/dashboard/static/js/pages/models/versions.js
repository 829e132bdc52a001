// The versions of a model: a table (number, when, who, source run, pipeline, key metrics
// beside their baselines, aliases, digest), details with every metric and the config,
// deletion with confirmation, and registering a completed run as the next version.

import { api } from "../../api.js";
import { csvLink } from "../../csvlink.js";
import { dialog, errorBox, fill, flatten, h, keyValues, offsetPager, shown, time, toast } from "../../ui.js";
import { adapterSummary, isAdapter } from "./adapter.js";
import { aliasChips, metricLine, metricsTable } from "./shared.js";

const KEY_METRICS = 2;

export function versionsCard(model) {
  const errorArea = h("div");
  const tableBox = h("div", { class: "table-wrap", id: "versions-table" });
  const pager = h("div", { class: "pager" });
  const opened = new Set();
  const runs = h("datalist", { id: "completed-runs" });
  const runInput = h("input", { name: "experiment", required: true, list: "completed-runs", placeholder: "run id or name", "aria-label": "Run id or name", autocomplete: "off", onfocus: listRuns });
  const description = h("input", { name: "description", placeholder: "description (optional)", "aria-label": "Version description", maxlength: "10000" });
  const registerButton = h("button", { type: "submit", class: "primary" }, "Register version");
  const form = h("form", { class: "toolbar models-register", onsubmit: register }, runInput, description, registerButton, runs);
  const csv = csvLink(`${model.path}/versions`, { id: "versions-csv", filename: `${model.name}-versions.csv`, title: "Every version, as CSV" });
  const element = h("section", { class: "card", id: "versions" },
    h("div", { class: "toolbar" }, h("h2", { class: "inline" }, "Versions"), h("span", { class: "spacer" }), csv),
    h("p", { class: "muted small" }, "A version is the model of a completed run, its files copied and checksummed. Register one by the run's id or name:"),
    form, errorArea, tableBox, pager);

  let runsListed = false;
  async function listRuns() {
    if (runsListed) return;
    runsListed = true;
    try {
      const page = await api.get("/runs", { status: "completed", limit: 100 });
      fill(runs, page.data.map((run) => h("option", { value: run.name }, `#${run.id} · ${run.pipeline}`)));
    } catch {
      runsListed = false; // typing an id or a name still works
    }
  }

  async function register(event) {
    event.preventDefault();
    const text = runInput.value.trim();
    if (!text) return;
    registerButton.disabled = true;
    registerButton.textContent = "Registering…";
    try {
      const experiment = /^\d+$/.test(text) ? Number(text) : text;
      const version = await api.post(`${model.path}/versions`, { experiment, description: description.value });
      toast(`Registered version ${version.version} of ${model.name} from run ${version.source_experiment_name}.`, "ok");
      runInput.value = description.value = "";
      fill(errorArea);
      model.versions.offset = 0;
      await model.reload();
    } catch (error) {
      fill(errorArea, errorBox(error, `Run "${text}" was not registered`));
    } finally {
      registerButton.disabled = false;
      registerButton.textContent = "Register version";
    }
  }

  async function remove(version) {
    const aliases = version.aliases.length ? ` Aliases point to it (${version.aliases.join(", ")}): move or remove them first, or the server refuses.` : "";
    const ok = await dialog({
      title: `Delete version ${version.version} of ${model.name}?`,
      body: `Its copied files are deleted for good; the run it came from stays.${aliases}`,
      confirm: "Delete", danger: true,
    });
    if (!ok) return;
    try {
      await api.delete(`${model.path}/versions/${version.version}`);
      toast(`Deleted version ${version.version}.`, "ok");
      fill(errorArea);
      await model.reload();
    } catch (error) {
      fill(errorArea, errorBox(error, `Version ${version.version} was not deleted`));
    }
  }

  function row(version) {
    const keys = Object.keys(version.metrics || {}).slice(0, KEY_METRICS);
    const source = version.source_experiment_id
      ? h("a", { href: `#/runs/${version.source_experiment_id}`, title: `run ${version.source_experiment_id}` }, version.source_experiment_name)
      : h("span", { class: "muted", title: "the run was deleted" }, version.source_experiment_name);
    const isOpen = opened.has(version.version);
    const toggle = h("button", { class: "small", "aria-expanded": String(isOpen), onclick: () => {
      isOpen ? opened.delete(version.version) : opened.add(version.version);
      update();
    } }, isOpen ? "Hide" : "Details");
    const main = h("tr", { dataset: { version: String(version.version) } },
      h("td", { class: "num" }, h("strong", {}, `v${version.version}`)),
      h("td", { class: "small hide-narrow" }, h("span", { class: "nowrap" }, time(version.created_at)), h("div", { class: "muted" }, `by ${version.created_by}`)),
      h("td", { class: "name" }, source, h("div", { class: "muted small" }, version.pipeline)),
      h("td", { class: "metrics-cell" }, isAdapter(version) ? adapterSummary(version)
        : keys.length ? keys.map((key) => metricLine(key, version.metrics[key])) : h("span", { class: "muted" }, "—")),
      h("td", {}, aliasChips(Object.fromEntries(version.aliases.map((alias) => [alias, version.version])), { versions: false })),
      h("td", { class: "digest small hide-narrow", title: `SHA-256 ${version.artifact_digest}` }, version.artifact_digest.slice(0, 12)),
      h("td", { class: "nowrap" }, toggle, " ", h("button", { class: "small danger", onclick: () => remove(version), "aria-label": `Delete version ${version.version}` }, "Delete")));
    if (!isOpen) return main;
    return [main, h("tr", { class: "version-details" }, h("td", { colspan: "7" }, details(version)))];
  }

  function details(version) {
    const config = flatten(version.config || {});
    return h("div", { class: "grid-2" },
      h("div", {}, h("h3", {}, "Test metrics beside the baselines"), metricsTable(version.metrics)),
      h("div", {},
        h("h3", {}, "Version"),
        keyValues([
          version.description ? ["description", version.description] : null,
          ["artifact SHA-256", h("span", { class: "digest small" }, version.artifact_digest)],
          ["data fingerprint", h("span", { class: "digest small" }, version.data_fingerprint)],
        ]),
        h("h3", {}, "Config"),
        keyValues(Object.entries(config).map(([key, value]) => [key, shown(value)]))));
  }

  function update() {
    const { data, total, offset } = model.versions;
    const body = h("tbody", {}, data.map(row));
    if (!data.length) body.append(h("tr", {}, h("td", { colspan: "7", class: "empty" }, "No versions yet: register a completed run's model above.")));
    fill(tableBox, h("table", {},
      h("thead", {}, h("tr", {}, ["Version", "Created", "Source run · pipeline", "Key metrics (model vs baselines)", "Aliases", "Digest", ""].map((label) => h("th", { class: label === "Created" || label === "Digest" ? "hide-narrow" : "" }, label)))),
      body));
    if (total > model.limit) offsetPager(pager, { offset, limit: model.limit, shown: data.length, total, go: page, labels: ["Newer", "Older"], id: "versions" });
    else fill(pager);
  }

  async function page(offset) {
    model.versions.offset = offset;
    try {
      await model.reload();
    } catch (error) {
      fill(errorArea, errorBox(error, "The versions could not be listed"));
    }
  }

  return { element, update };
}
