// A version that is a LoRA adapter of the assistant's expert (registered by a fine-tune, model
// expert-<name>): the approved examples it trained on and was judged on, and the promotion
// gate's verdict with its counts and p-value (why it was, or was not, made the champion).
// Such a model answers in the chat, not through Predict: its page says so in place.

import { h, number } from "../../ui.js";

/** The pipeline of an adapter's versions (azuraforge.assist.adapters.registry). */
export const ADAPTER_PIPELINE = "assist-adapter";

export function isAdapter(version) {
  return version?.pipeline === ADAPTER_PIPELINE;
}

/** The examples of `version` and the gate's verdict on it, for its row. */
export function adapterSummary(version) {
  const metrics = version.metrics || {};
  const examples = version.config?.examples || {};
  const decision = version.config?.decision;
  const trained = examples.trained ?? metrics.train_examples;
  const heldOut = examples.held_out ?? metrics.held_out_examples;
  return h("div", { class: "adapter-summary" },
    h("div", { class: "adapter-examples" }, `examples: ${number(trained)} trained · ${number(heldOut)} held out`),
    decision ? verdict(decision, metrics) : h("div", { class: "muted small" }, version.description || "no decision recorded"));
}

function verdict(decision, metrics) {
  const held = `held out: new ${number(metrics.held_out_better)} to champion ${number(metrics.held_out_worse)}, p = ${number(metrics.p_value, 2)} (below ${number(metrics.alpha)} promotes)`;
  const frozen = metrics.frozen_examples
    ? `frozen set: ${number(metrics.frozen_old_passed)} → ${number(metrics.frozen_new_passed)} of ${number(metrics.frozen_examples)} passed (${number(metrics.frozen_may_lose)} may be lost)`
    : "no frozen set: nothing shows it forgot nothing";
  return h("div", { class: "adapter-decision" },
    h("strong", { class: decision.promote ? "better" : "worse" }, decision.promote ? "promoted" : "not promoted"),
    h("div", { class: "small" }, held),
    h("div", { class: "small" }, frozen),
    h("div", { class: "muted small adapter-reason" }, decision.reason));
}

/** What stands for the predict panel on an adapter's page. */
export function adapterCard(model) {
  const expert = model.name.replace(/^expert-/, "");
  const element = h("section", { class: "card", id: "predict" },
    h("h2", {}, "Predict"),
    h("p", { class: "muted", id: "predict-adapter" }, "The versions of this model are LoRA adapters of the assistant's expert ",
      h("strong", {}, expert), ": they answer in the ", h("a", { href: "#/chat" }, "chat"),
      " (through the version the champion alias names), not through Predict."));
  return { element, update() {} };
}
