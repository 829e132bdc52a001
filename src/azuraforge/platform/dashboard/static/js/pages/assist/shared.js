// What the review and nights pages share: the experts, the examples waiting for a fine-tune,
// a project's refusal to a viewer said plainly.

import { ApiError, api } from "../../api.js";
import { errorBox, fill, h } from "../../ui.js";

/** The seed's experts (azuraforge.assist.orchestrator.EXPERTS), when the chat names none. */
const EXPERTS = ["general", "python", "turkish"];
/** The most approved examples read to count those waiting (pages of 500). */
const MOST_APPROVED = 10000;

/** The experts the chat names, with `extra` ones (an expert of an example), sorted. */
export async function expertNames(extra = []) {
  let names = EXPERTS;
  try {
    names = (await api.get("/chat/models")).experts;
  } catch {
    // the seed's experts: the page still works without the chat's list
  }
  return [...new Set([...names, ...extra.filter(Boolean)])].sort();
}

/** How many approved examples of each expert no fine-tune used yet (`fine_tune` null). */
export async function waitingCounts() {
  const counts = {};
  for (let offset = 0; offset < MOST_APPROVED; offset += 500) {
    const page = await api.get("/assist/examples", { status: "approved", limit: 500, offset });
    for (const example of page.data) {
      if (example.fine_tune === null) counts[example.expert] = (counts[example.expert] || 0) + 1;
    }
    if (!page.data.length || offset + page.data.length >= page.total) break;
  }
  return counts;
}

/** "python 3 · turkish 1", or `none` when no expert has any. */
export function perExpert(counts, none = "none") {
  const entries = Object.entries(counts || {}).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return none;
  return entries.map(([expert, n]) => `${expert} ${n.toLocaleString("en-US")}`).join(" · ");
}

/** Fill `main` with `title` and why the page cannot be shown; a viewer is told who may. */
export function refused(main, title, error) {
  const why = error instanceof ApiError && error.status === 403
    ? new Error(`Only the project's editors and admins see this page: it shows what users asked the assistant. ${error.message}`)
    : error;
  fill(main, h("div", { class: "page-head" }, h("h1", {}, title)), errorBox(why, "This page could not be shown"));
}
