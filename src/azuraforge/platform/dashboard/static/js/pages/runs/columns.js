// The runs listing's score columns: a chooser of the scores the project's runs have
// (the numbers of their results: metrics.MAE.model...), and the address of the listing as
// CSV with the same filters, order and columns.

import { csvAddress as listCsv } from "../../csvlink.js";
import { h } from "../../ui.js";
import { apiQuery } from "./query.js";

const CSV_FIELDS = ["id", "name", "pipeline", "status", "created_at", "finished_at"];

/**
 * The column chooser over `state.columns`; `update(changes)` applies a choice. Returns
 * `{chooser, showNames(names)}`: `showNames` offers the project's score names.
 */
export function columnChooser(state, update) {
  const list = h("div", { class: "column-list", id: "score-columns" }, h("span", { class: "muted small" }, "No scores yet."));
  const chooser = h("details", { class: "column-chooser" }, h("summary", { class: "button" }, "Columns"), list);
  return {
    chooser,
    showNames(names) {
      const offered = [...new Set([...state.columns, ...names])];
      if (!offered.length) return;
      list.replaceChildren(...offered.map((name) => h("label", { class: "small" },
        h("input", {
          type: "checkbox", value: name, checked: state.columns.includes(name),
          onchange: (e) => update({ columns: e.target.checked ? [...state.columns, name] : state.columns.filter((c) => c !== name) }, true),
        }), ` ${name}`)));
    },
  };
}

/** The address of the listing in `state` as CSV: every run its filters keep, in its order,
 * with the main fields and the chosen scores (every score when none is chosen). */
export function csvAddress(state) {
  const columns = state.columns.length ? [...CSV_FIELDS, ...state.columns].join(",") : undefined;
  return listCsv("/runs", { ...apiQuery(state), columns });
}
