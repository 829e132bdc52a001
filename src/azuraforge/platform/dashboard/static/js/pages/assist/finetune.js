// The review page's fine-tune card: how many approved examples of each expert wait for a
// fine-tune, and one started by hand (an expert, its steps, the share of examples held out to
// judge it): a run of kind fine-tune that trains the expert's LoRA adapter on them, registered
// and promoted only if it answers better. The expert is chosen, never assumed: the one with the
// most examples waiting, else none until the reviewer picks one (general, with no frozen set of
// its own, is never promoted automatically). The API's refusal (no approved example, too few
// held out, no llama backend declared) is shown in the card.

import { api } from "../../api.js";
import { badge, errorBox, fill, h } from "../../ui.js";
import { perExpert, waitingCounts } from "./shared.js";

const STEPS = 100;
const MOST_STEPS = 100000;
/** The share of approved examples held out to judge the adapter (FineTuneConfig.held_out). */
const HELD_OUT = 0.3;

/** The card (`element`) and `refresh()`, which counts the examples waiting again. */
export function fineTuneCard(experts) {
  const waiting = h("span", { id: "fine-tune-waiting" }, "…");
  const expert = h("select", { id: "fine-tune-expert", name: "expert" },
    h("option", { value: "", disabled: true, selected: true }, "choose an expert"),
    experts.map((name) => h("option", { value: name }, name)));
  const heldOut = h("input", { id: "fine-tune-held-out", name: "held_out", type: "number", class: "number", min: "0", max: "0.95", step: "0.05", value: String(HELD_OUT), required: true, title: "The share of the approved examples kept out of training to judge the adapter" });
  const steps = h("input", { id: "fine-tune-steps", name: "steps", type: "number", class: "number", min: "1", max: String(MOST_STEPS), step: "1", value: String(STEPS), required: true });
  const start = h("button", { type: "submit", class: "primary", id: "fine-tune-start" }, "Start fine-tune");
  const outcome = h("div", { id: "fine-tune-outcome" });
  let chosen = false; // the reviewer picked an expert: the counts no longer pick one

  expert.addEventListener("change", () => { chosen = true; });
  const form = h("form", { class: "fine-tune-form", id: "fine-tune-form", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    fill(outcome);
    const wrong = problem(expert.value, steps.value, heldOut.value);
    if (wrong) {
      fill(outcome, errorBox(new Error(wrong), "The fine-tune was not started"));
      return;
    }
    start.disabled = true;
    try {
      const body = { expert: expert.value, steps: Number(steps.value), held_out: Number(heldOut.value) };
      const run = await api.post("/assist/fine-tunes", body);
      fill(outcome, queued(run));
    } catch (error) {
      fill(outcome, errorBox(error, "The fine-tune was not started"));
    } finally {
      start.disabled = false;
    }
  } },
  h("label", {}, "Expert ", expert), h("label", {}, "Steps ", steps), h("label", {}, "Held out ", heldOut), start);

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
    h("p", { class: "muted small" }, "Trains the expert's adapter on its approved examples over the base model of a llama backend, but for the share held out (the same ones at every fine-tune), on which it is judged; too few held out to tell a better adapter apart and the server refuses: approve more, or hold out more. The new adapter is registered, and becomes the champion only if it answers better and forgets nothing of its expert's frozen set: general has none, so its adapters are never promoted by themselves."),
    outcome);
  return { element, refresh };
}

/** What is wrong with the form's values, or null. */
function problem(expert, steps, heldOut) {
  const count = Number(steps);
  const share = Number(heldOut);
  if (!expert) return "choose the expert whose adapter is trained";
  if (!Number.isInteger(count) || count < 1 || count > MOST_STEPS) {
    return `steps must be a whole number from 1 to ${MOST_STEPS.toLocaleString("en-US")}, got ${steps || "nothing"}`;
  }
  if (!heldOut.trim() || !(share >= 0 && share < 1)) {
    return `held out must be a share from 0 to less than 1 (0.3: three approved examples in ten judge the adapter), got ${heldOut || "nothing"}`;
  }
  return null;
}

function queued(run) {
  return h("div", { class: "notice", id: "fine-tune-queued" }, "Queued ",
    h("a", { href: `#/runs/${run.id}` }, run.name), ` (run ${run.id}, ${run.expert}) `, badge(run.status),
    ": follow its training on its run page.");
}
