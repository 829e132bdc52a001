// A list's CSV download, as the runs list has one: every item the list's filters keep, in its
// order, its page aside (the API's `format=csv`; GET /runs, /studies, /models...).

import { listUrl } from "./api.js";
import { h } from "./ui.js";

/** The address of the list `path` with `query` as CSV (its page left out: every item). */
export function csvAddress(path, query = {}) {
  const { offset, limit, ...kept } = query;
  return listUrl(path, { ...kept, format: "csv" }).toString();
}

/** A "CSV" button downloading the list `path` with `query` as `filename`. */
export function csvLink(path, { id, filename, query = {}, title = "Every item of this list, as CSV" }) {
  return h("a", { class: "button", id, href: csvAddress(path, query), download: filename, title }, "CSV");
}
