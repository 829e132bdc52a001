// A model's aliases: where each points, set or move one (a version and a reason), remove
// one, roll one back to the version before its last move, and each alias's history (who,
// when, from → to, why, rollback or not).

import { api } from "../../api.js";
import { debounce, dialog, errorBox, fill, h, loading, time, toast } from "../../ui.js";
import { field, versionNumber } from "./shared.js";

const SUGGESTED = ["champion", "challenger", "staging", "production"];
const HISTORY_PAGE = 50;

export function aliasesCard(model) {
  let selected = null; // the alias whose history is shown
  let historyAsked = 0;
  const errorArea = h("div");
  const listBox = h("div", { class: "table-wrap", id: "aliases-table" });
  const aliasInput = h("input", { name: "alias", required: true, list: "alias-names", maxlength: "100", placeholder: "champion", autocomplete: "off", pattern: "[A-Za-z0-9_\\-]+" });
  const names = h("datalist", { id: "alias-names" });
  // A number, not a list: any version can be named, the 120th of 120 as well as the 3rd.
  const describeLater = debounce(describeVersion, 250);
  const versionInput = h("input", { name: "version", type: "number", required: true, min: "1", step: "1", inputmode: "numeric", oninput: describeLater });
  const versionHelp = h("div", { class: "help models-alias-help", id: "alias-version-help" });
  let described = 0;
  const reasonInput = h("input", { name: "reason", maxlength: "2000", placeholder: "why (kept in the history)" });
  const setButton = h("button", { type: "submit", class: "primary" }, "Set alias");
  const form = h("form", { class: "models-alias-form", id: "alias-form", onsubmit: submit },
    field("Alias", aliasInput), field("Version", versionInput), field("Reason", reasonInput),
    h("div", { class: "form-actions" }, setButton), versionHelp, names);
  const historySelect = h("select", { "aria-label": "Alias whose history is shown", onchange: () => showHistory(historySelect.value) });
  const rollbackButton = h("button", { id: "rollback", onclick: () => rollback(selected) }, "Roll back");
  const historyBox = h("div", { id: "alias-history" });

  const element = h("div", { class: "grid-2 models-aliases" },
    h("section", { class: "card", id: "aliases" },
      h("h2", {}, "Aliases"),
      h("p", { class: "muted small" }, "A reference name@alias follows the alias: predictions switch to a moved alias's version within about a second."),
      errorArea, listBox,
      h("h3", {}, "Set or move an alias"), form),
    h("section", { class: "card" },
      h("div", { class: "toolbar" }, h("h2", { class: "inline" }, "History of"), historySelect, h("span", { class: "spacer" }), rollbackButton),
      historyBox));

  function update() {
    const aliases = model.record.aliases;
    const entries = Object.entries(aliases).sort(([a], [b]) => a.localeCompare(b));
    const body = h("tbody", {}, entries.map(([alias, version]) => h("tr", { dataset: { alias } },
      h("td", {}, h("span", { class: "badge alias" }, alias)),
      h("td", { class: "num" }, `v${version}`),
      h("td", { class: "models-alias-actions" },
        h("button", { class: "small", onclick: () => prefill(alias, version) }, "Move"), " ",
        h("button", { class: "small", onclick: () => rollback(alias) }, "Roll back"), " ",
        h("button", { class: "small", onclick: () => showHistory(alias) }, "History"), " ",
        h("button", { class: "small danger", onclick: () => remove(alias) }, "Remove")))));
    if (!entries.length) body.append(h("tr", {}, h("td", { colspan: "3", class: "empty" }, "No aliases: set one below (champion, say).")));
    fill(listBox, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Alias"), h("th", { class: "num" }, "Version"), h("th", {}))), body));
    fill(names, [...new Set([...Object.keys(aliases), ...SUGGESTED])].map((name) => h("option", { value: name })));
    const latest = model.record.latest_version;
    versionInput.max = latest ? String(latest) : "";
    if (!versionInput.value && latest) versionInput.value = String(latest);
    describeVersion();
    setButton.disabled = !latest;
    const current = entries.map(([alias]) => alias);
    if (!selected) selected = aliases.champion !== undefined ? "champion" : current[0] || null;
    // A removed alias keeps its history (and can be rolled back): it stays selectable.
    const known = [...new Set([...current, ...(selected ? [selected] : [])])].sort();
    fill(historySelect, known.length ? known.map((name) => h("option", { value: name }, name)) : h("option", { value: "" }, "no alias yet"));
    historySelect.value = selected || "";
    showHistory(selected);
  }

  function prefill(alias, version) {
    aliasInput.value = alias;
    const latest = model.record.latest_version;
    versionInput.value = String(latest !== version ? latest : Math.max(1, version - 1));
    describeVersion();
    versionInput.focus();
    versionInput.select();
  }

  /** Under the version's number, what it is (its run, its aliases), or why it is none. */
  async function describeVersion() {
    const asked = ++described;
    const number = versionNumber(versionInput.value);
    if (number === null) {
      fill(versionHelp, versionInput.value.trim() ? "A version is a whole number (1, 2…)." : `1 to ${model.record.latest_version || "…"}; the latest is the default.`);
      return;
    }
    try {
      const version = await model.version(number);
      if (asked !== described) return;
      const aliases = version.aliases.length ? ` · now ${version.aliases.join(", ")}` : "";
      fill(versionHelp, `v${version.version}: run ${version.source_experiment_name} · ${version.pipeline}${aliases}`);
    } catch (error) {
      if (asked === described) fill(versionHelp, h("span", { class: "models-job-error" }, error.message));
    }
  }

  async function submit(event) {
    event.preventDefault();
    const alias = aliasInput.value.trim();
    const version = versionNumber(versionInput.value);
    if (version === null) {
      fill(errorArea, errorBox(new Error(`The version must be a whole number from 1 (the latest is ${model.record.latest_version}), got "${versionInput.value}".`), `Alias "${alias}" was not set`));
      return;
    }
    await act(`${alias} now points to v${version}.`, `Alias "${alias}" was not set`, alias,
      () => api.put(`${model.path}/aliases/${encodeURIComponent(alias)}`, { version, reason: reasonInput.value }));
    reasonInput.value = "";
  }

  async function remove(alias) {
    const answer = await dialog({
      title: `Remove alias ${alias}?`,
      body: h("div", {}, h("p", {}, `References ${model.name}@${alias} stop resolving. The removal is kept in the history; a rollback brings the alias back.`),
        field("Reason", h("input", { name: "reason", maxlength: "2000" }))),
      confirm: "Remove", danger: true,
    });
    if (!answer) return;
    await act(`Removed alias ${alias}.`, `Alias "${alias}" was not removed`, alias,
      () => api.delete(`${model.path}/aliases/${encodeURIComponent(alias)}`, { reason: answer.reason }));
  }

  async function rollback(alias) {
    if (!alias) return;
    let text = `Point ${alias} back at the version before its last move.`;
    try {
      const last = (await api.get(`${model.path}/aliases/${encodeURIComponent(alias)}/history`, { limit: 1 })).data[0];
      if (last && last.from_version === null) {
        fill(errorArea, errorBox(new Error(`${alias} was created pointing at ${versionText(last.to_version)}: it has no earlier version to roll back to. Move it instead.`), "Nothing to roll back"));
        return;
      }
      if (last) text = `${alias} points to ${versionText(last.to_version)} since ${time(last.created_at)} (${last.actor}). Roll it back to ${versionText(last.from_version)}, where it pointed before?`;
    } catch (error) {
      fill(errorArea, errorBox(error, `Alias "${alias}" cannot be rolled back`));
      return;
    }
    const answer = await dialog({
      title: `Roll back ${alias}?`,
      body: h("div", {}, h("p", {}, text), field("Reason", h("input", { name: "reason", maxlength: "2000" }))),
      confirm: "Roll back", danger: true,
    });
    if (!answer) return;
    await act(`Rolled ${alias} back.`, `Alias "${alias}" was not rolled back`, alias,
      () => api.post(`${model.path}/aliases/${encodeURIComponent(alias)}/rollback`, { reason: answer.reason }));
  }

  /** Run a change of `alias`, then show the model and the alias's history as they are now. */
  async function act(done, failed, alias, change) {
    try {
      const answer = await change();
      fill(errorArea);
      toast(answer.move ? done : `${alias} already pointed there: nothing changed.`, "ok");
      selected = alias;
      await model.reload();
    } catch (error) {
      fill(errorArea, errorBox(error, failed));
    }
  }

  function showHistory(alias) {
    selected = alias || null;
    rollbackButton.disabled = !selected;
    if (!selected) {
      fill(historyBox, h("p", { class: "muted" }, "Each move of an alias is recorded here: who, when, from → to, why."));
      return;
    }
    const asked = ++historyAsked; // only the latest request is shown
    fill(historyBox, loading());
    api.get(`${model.path}/aliases/${encodeURIComponent(alias)}/history`, { limit: HISTORY_PAGE })
      .then((page) => asked === historyAsked && fill(historyBox, historyTable(page)))
      .catch((error) => asked === historyAsked && fill(historyBox, errorBox(error, `The history of "${alias}" could not be loaded`)));
  }

  return { element, update, stop: () => describeLater.cancel() };
}

/** A version of a move: null is "none" before (a new alias) and "removed" after. */
function versionText(version, missing = "removed") {
  return version === null || version === undefined ? missing : `v${version}`;
}

function historyTable(page) {
  const body = h("tbody", {}, page.data.map((move) => h("tr", { dataset: { move: String(move.id) } },
    h("td", { class: "nowrap small" }, time(move.created_at)),
    h("td", { class: "small" }, move.actor),
    h("td", { class: "nowrap" }, `${versionText(move.from_version, "none")} → ${versionText(move.to_version)}`),
    h("td", { class: "small models-reason" }, move.reason || h("span", { class: "muted" }, "—")),
    h("td", {}, move.rollback ? h("span", { class: "badge cancelled" }, "rollback") : ""))));
  const more = page.total > page.data.length ? h("p", { class: "muted small" }, `The latest ${page.data.length} of ${page.total} moves.`) : null;
  return [h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["When", "Who", "From → to", "Reason", ""].map((label) => h("th", {}, label)))), body)), more];
}
