// Review (#/assist/examples): the project's examples, the assistant's failures made training
// examples (answers marked bad or corrected in the chat, code the guardian found failing),
// the last changed first, filtered by review status and expert. Each shows what was asked,
// the wrong output and why, and takes the right output and its tests; approving needs a
// right output (the API's refusal is shown on the example). Above them, the fine-tune of an
// expert on its approved examples (./finetune.js).

import { api } from "../../api.js";
import { replaceQuery } from "../../router.js";
import { badge, errorBox, fill, h, loading, offsetPager, time, toast } from "../../ui.js";
import { fineTuneCard } from "./finetune.js";
import { expertNames, refused } from "./shared.js";

const LIMIT = 20;
const STATUSES = ["candidate", "approved", "rejected", "all"];
const EMPTY = "No examples yet: they come from answers marked bad or corrected in the chat, and code the guardian found failing.";

export async function renderExamples(main, { query }) {
  const filter = {
    status: STATUSES.includes(query.get("status")) ? query.get("status") : "candidate",
    expert: query.get("expert") || "",
    offset: Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0),
  };
  let first;
  try {
    first = await listExamples(filter);
  } catch (error) {
    refused(main, "Review", error);
    return null;
  }
  const experts = await expertNames([filter.expert]);
  const list = h("div", { class: "examples", id: "examples" });
  const pager = h("div", { class: "pager" });
  const count = h("span", { class: "muted small", id: "examples-count" });
  const fineTune = fineTuneCard(experts);
  const status = h("select", { id: "examples-status", onchange: () => change({ status: status.value }) },
    STATUSES.map((s) => h("option", { value: s, selected: s === filter.status }, s)));
  const expert = h("select", { id: "examples-expert", onchange: () => change({ expert: expert.value }) },
    h("option", { value: "" }, "every expert"),
    experts.map((name) => h("option", { value: name, selected: name === filter.expert }, name)));
  let shown = 0;

  fill(main,
    h("div", { class: "page-head" }, h("h1", {}, "Review"),
      h("a", { href: "#/assist/nights" }, "Nightly passes →"),
      h("span", { class: "sub" }, "The assistant's failures, made training examples: give each the right output, then approve it (only approved examples are trained on) or reject it.")),
    fineTune.element,
    h("section", { class: "card", "aria-label": "Examples" },
      h("div", { class: "toolbar" }, h("label", {}, "Status ", status), h("label", {}, "Expert ", expert), h("span", { class: "spacer" }), count),
      list, pager));

  function draw(page) {
    shown = page.data.length;
    count.textContent = `${page.total.toLocaleString("en-US")} ${page.total === 1 ? "example" : "examples"}`;
    count.dataset.total = String(page.total);
    fill(list, shown ? page.data.map((example) => exampleCard(example, reviewed)) : h("p", { class: "empty" }, page.total ? "No examples on this page." : emptyLine(filter)));
    offsetPager(pager, { offset: filter.offset, limit: LIMIT, shown, total: page.total, go: (offset) => change({ offset }), id: "examples" });
  }

  let asked = 0; // the latest load's number: an older answer arriving late is dropped
  async function load() {
    const mine = ++asked;
    fill(list, loading("Loading examples…"));
    try {
      const page = await listExamples(filter);
      if (mine === asked) draw(page);
    } catch (error) {
      if (mine === asked) fill(list, errorBox(error, "The examples could not be listed"));
    }
  }

  function change(values) {
    Object.assign(filter, { offset: 0 }, values);
    const kept = new URLSearchParams();
    if (filter.status !== "candidate") kept.set("status", filter.status);
    if (filter.expert) kept.set("expert", filter.expert);
    if (filter.offset) kept.set("offset", String(filter.offset));
    replaceQuery(kept);
    load();
  }

  /** An example reviewed: redrawn in place while it still matches the filter, else gone. */
  function reviewed(example, card) {
    fineTune.refresh();
    if (filter.status === "all" || filter.status === example.status) {
      card.replaceWith(exampleCard(example, reviewed));
      return;
    }
    card.remove();
    const total = Math.max(0, Number(count.dataset.total) - 1);
    count.dataset.total = String(total);
    count.textContent = `${total.toLocaleString("en-US")} ${total === 1 ? "example" : "examples"}`;
    if (--shown === 0) load();
  }

  draw(first);
  await fineTune.refresh();
  return null;
}

function listExamples(filter) {
  return api.get("/assist/examples", {
    status: filter.status === "all" ? null : filter.status, expert: filter.expert || null,
    offset: filter.offset, limit: LIMIT,
  });
}

function emptyLine(filter) {
  if (filter.status === "all" && !filter.expert) return EMPTY;
  const which = `${filter.status === "all" ? "" : `${filter.status} `}examples${filter.expert ? ` of ${filter.expert}` : ""}`;
  return `No ${which}. ${EMPTY.replace("No examples yet: they", "Examples")}`;
}

/** One example: what was asked and answered wrong, why, the right output and its tests to
 * edit, and the review's buttons; `onReviewed(example, card)` once the API kept a review. */
function exampleCard(example, onReviewed) {
  const output = h("textarea", { class: "example-output", rows: 5, maxlength: 20000, "aria-label": "Right output", placeholder: "What the assistant should have answered (needed to approve)" }, example.output || "");
  const tests = h("textarea", { class: "example-tests", rows: 3, maxlength: 20000, "aria-label": "Tests", placeholder: "assert add(2, 3) == 5" }, example.tests || "");
  const problem = h("div", { class: "example-error" });
  const card = h("article", { class: "card example", dataset: { id: String(example.id), status: example.status } });
  const review = async (status, button) => {
    fill(problem);
    const body = { tests: tests.value };
    if (/\S/.test(output.value)) body.output = output.value;
    if (status) body.status = status;
    button.disabled = true;
    try {
      const kept = await api.patch(`/assist/examples/${example.id}`, body);
      toast(status ? `Example ${example.id} ${kept.status}.` : `Example ${example.id} saved.`, "ok");
      onReviewed(kept, card);
    } catch (error) {
      fill(problem, errorBox(error, status === "approved" ? "Not approved" : "Not saved"));
      button.disabled = false;
    }
  };
  const button = (label, status, className = "") => {
    const element = h("button", { type: "button", class: className, dataset: { review: status || "save" }, onclick: () => review(status, element) }, label);
    return element;
  };
  return fill(card,
    h("div", { class: "example-head" }, badge(example.status), h("strong", {}, `#${example.id}`),
      h("span", {}, `${example.expert} · ${example.intent}`), facts(example)),
    h("div", { class: "grid-2" },
      h("div", { class: "example-texts" },
        h("h3", {}, "Prompt"), h("pre", { class: "example-text example-prompt" }, example.prompt),
        h("h3", {}, "Wrong output"), h("pre", { class: "example-text example-wrong" }, example.wrong_output),
        h("h3", {}, "Why"), h("pre", { class: "example-text example-why" }, example.why)),
      h("div", { class: "example-edit" },
        h("div", { class: "field" }, h("label", {}, "Right output"), output),
        h("div", { class: "field" }, h("label", {}, "Tests ", h("span", { class: "muted small" }, "(optional)")), tests,
          h("div", { class: "help" }, "Python assert lines run against the right output's code: the example's check when a fine-tune is judged.")),
        problem,
        h("div", { class: "toolbar" },
          button("Approve", "approved", "primary"), button("Reject", "rejected", "danger"),
          example.status === "candidate" ? null : button("Back to candidate", "candidate"),
          h("span", { class: "spacer" }), button("Save", null)))));
}

/** Seen how often, the turn it came from, who reviewed it, the fine-tune that used it. */
function facts(example) {
  const parts = [
    h("span", { class: "example-seen", title: "How many failures of this prompt it merges" }, `seen ${example.seen}×`),
    h("span", { class: "example-turn" }, example.turn_id === null ? "no turn" : `from turn ${example.turn_id}`),
    h("span", { title: `created ${time(example.created_at)}` }, `changed ${time(example.updated_at)}`),
    example.reviewer ? h("span", {}, `reviewed by ${example.reviewer}`) : null,
    example.fine_tune === null ? null : h("span", { class: "example-fine-tune" }, `${example.used_as || "used"} by `,
      h("a", { href: `#/runs/${example.fine_tune}` }, `fine-tune run ${example.fine_tune}`)),
  ];
  return h("span", { class: "example-facts muted small" }, parts);
}
