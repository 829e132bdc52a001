// The review page's fine-tune card: how many approved examples of each expert wait for a
// fine-tune, and one started by hand (an expert, its steps): a run of kind fine-tune that
// trains the expert's LoRA adapter on them, registered and promoted only if it answers better.
// The API's refusal (no approved example, no llama backend declared) is shown in the card.

import { api } from "../../api.js";
import { badge, errorBox, fill, h } from "../../ui.js";
import { perExpert, waitingCounts } from "./shared.js";

const STEPS = 100;
const MOST_STEPS = 100000;

/** The card (`element`) and `refresh()`, which counts the examples waiting again. */
export function fineTuneCard(experts) {
  const waiting = h("span", { id: "fine-tune-waiting" }, "…");
  const expert = h("select", { id: "fine-tune-expert", name: "expert" }, experts.map((name) => h("option", { value: name }, name)));
  const steps = h("input", { id: "fine-tune-steps", name: "steps", type: "number", class: "number", min: "1", max: String(MOST_STEPS), step: "1", value: String(STEPS), required: true });
  const start = h("button", { type: "submit", class: "primary", id: "fine-tune-start" }, "Start fine-tune");
  const outcome = h("div", { id: "fine-tune-outcome" });
  let chosen = false; // the reviewer picked an expert: the counts no longer pick one

  expert.addEventListener("change", () => { chosen = true; });
  const form = h("form", { class: "fine-tune-form", id: "fine-tune-form", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    fill(outcome);
    const count = Number(steps.value);
    if (!Number.isInteger(count) || count < 1 || count > MOST_STEPS) {
      fill(outcome, errorBox(new Error(`steps must be a whole number from 1 to ${MOST_STEPS.toLocaleString("en-US")}, got ${steps.value || "nothing"}`), "The fine-tune was not started"));
      return;
    }
    start.disabled = true;
    try {
      const run = await api.post("/assist/fine-tunes", { expert: expert.value, steps: count });
      fill(outcome, queued(run));
    } catch (error) {
      fill(outcome, errorBox(error, "The fine-tune was not started"));
    } finally {
      start.disabled = false;
    }
  } },
  h("label", {}, "Expert ", expert), h("label", {}, "Steps ", steps), start);

  async function refresh() {
    try {
      const counts = await waitingCounts();
      waiting.textContent = perExpert(counts, "none yet: approve examples below");
      waiting.dataset.counts = JSON.stringify(counts);
      const most = Object.entries(counts).sort(([, a], [, b]) => b - a)[0];
      if (!chosen && most && experts.includes(most[0])) expert.value = most[0];
    } catch (error) {
      waiting.textContent = `could not be counted: ${error.message}`;
    }
  }

  const element = h("section", { class: "card fine-tune", id: "fine-tune", "aria-label": "Fine-tune" },
    h("h2", {}, "Fine-tune"),
    h("p", { class: "small" }, h("span", { class: "muted" }, "Approved and waiting for a fine-tune: "), waiting),
    form,
    h("p", { class: "muted small" }, "Trains the expert's adapter on its approved examples (some held out to judge it) over the base model of a llama backend; the new adapter is registered, and becomes the champion only if it answers better."),
    outcome);
  return { element, refresh };
}

function queued(run) {
  return h("div", { class: "notice", id: "fine-tune-queued" }, "Queued ",
    h("a", { href: `#/experiments/${run.id}` }, run.name), ` (run ${run.id}, ${run.expert}) `, badge(run.status),
    ": follow its training on its run page.");
}
