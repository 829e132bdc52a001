// Chat: the user's conversations with the assistant in the project (newest first), one
// conversation's turns, and a message box. An answer streams in as it is made (the API's
// server-sent events); under each answer, who answered (intent, expert, adapter, backend) and
// how fast (first token, tokens/s), why the backend was chosen as its title, and the user's
// verdict: good, bad, or a correction typed in place. Beside the conversations, what the
// assistant remembers of the user (the messages they sent, searched when they ask about
// earlier conversations): found by meaning, forgotten one by one or all at once. An answer's
// Markdown (code blocks above all) is drawn by markdown.js, never as HTML; an answer that
// cannot be made ends in place with the server's reason (what to install, say).

import { api, askStream } from "../api.js";
import { markdown } from "../markdown.js";
import { debounce, dialog, errorBox, fill, h, number, time, toast } from "../ui.js";

export async function render(main, route) {
  const chosen = route.params[0] ? Number(route.params[0]) : null;
  const list = h("nav", { class: "chat-list", id: "conversations", "aria-label": "Conversations" });
  const turns = h("div", { class: "chat-turns", id: "chat-turns" });
  const input = h("textarea", { id: "chat-message", rows: 3, maxlength: 20000, placeholder: "Ask the assistant… (Enter sends, Shift+Enter a new line)", required: true });
  // auto from the start: a message sent before the backends are read goes to the router.
  const model = h("select", { id: "chat-model", title: "Who answers: auto lets the router and the backend selector choose" },
    h("option", { value: "auto" }, "auto"));
  const send = h("button", { type: "submit", class: "primary", id: "chat-send" }, "Send");
  let conversation = chosen;
  const form = h("form", { class: "chat-form", id: "chat-form", onsubmit: async (event) => {
    event.preventDefault();
    const message = input.value.trim();
    if (!message || send.disabled) return;
    send.disabled = true;
    try {
      const made = await ask(turns, { message, conversation_id: conversation, model: model.value });
      // what the user typed while the answer streamed is the next message: it is kept.
      if (input.value.trim() === message) input.value = "";
      if (made !== conversation) {
        conversation = made;
        window.history.replaceState(null, "", `#/chat/${made}`);
      }
    } catch (error) {
      if (!error.shownInPlace) toast(error.message, "error");
    } finally {
      send.disabled = false;
      input.focus();
    }
    await drawList(list, conversation);
  } }, input, h("div", { class: "toolbar" }, h("label", {}, "Model ", model), h("span", { class: "spacer" }), send));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  fill(main, h("div", { class: "page-head" }, h("h1", {}, "Chat"),
    h("a", { class: "button", href: "#/chat", id: "chat-new" }, "New conversation")),
  h("div", { class: "chat" }, h("div", { class: "chat-side" }, list, memoryPanel()),
    h("section", { class: "chat-main" }, turns, form)));
  await Promise.all([drawList(list, conversation), drawModels(model), conversation ? drawTurns(turns, conversation) : null]);
  input.focus();
  return null;
}

/** The backends and experts after the select's `auto`; `auto` alone if they cannot be read. */
async function drawModels(select) {
  let found;
  try {
    found = await api.get("/chat/models");
  } catch {
    return;
  }
  select.append(
    h("optgroup", { label: "Backends" }, ...found.backends.map((name) => h("option", { value: name }, name))),
    h("optgroup", { label: "Experts" }, ...found.experts.map((name) => h("option", { value: name }, name))));
}

async function drawList(list, current) {
  let page;
  try {
    page = await api.get("/chat/conversations", { limit: 100 });
  } catch (error) {
    fill(list, errorBox(error, "Conversations"));
    return;
  }
  fill(list, page.data.length ? null : h("p", { class: "muted small" }, "No conversation yet."),
    ...page.data.map((c) => h("a", { href: `#/chat/${c.id}`, class: c.id === current ? "active" : "", "data-id": c.id, title: time(c.updated_at) }, c.title)));
}

async function drawTurns(turns, conversation) {
  try {
    const found = await api.get(`/chat/conversations/${conversation}`);
    fill(turns, ...found.turns.flatMap((turn) => [bubble("user", turn.message), answerBox(turn)]));
    turns.scrollTop = turns.scrollHeight;
  } catch (error) {
    fill(turns, errorBox(error, "This conversation could not be shown"));
  }
}

/**
 * Send a message and draw its answer as it streams; the conversation's id. The pending "…"
 * always ends: in the answer, or in the reason there is none (the error is thrown on, marked
 * `shownInPlace`).
 */
async function ask(turns, body) {
  turns.append(bubble("user", body.message));
  const text = h("div", { class: "chat-text" });
  const box = h("div", { class: "chat-turn assistant streaming" }, text, h("div", { class: "chat-meta muted small" }, "…"));
  turns.append(box);
  let conversation = body.conversation_id;
  let ended = false;
  const stop = (error, title) => {
    ended = true;
    box.classList.remove("streaming");
    box.classList.add("failed");
    box.querySelector(".chat-meta").textContent = "no answer";
    box.append(errorBox(error, title));
    turns.scrollTop = turns.scrollHeight;
  };
  try {
    await askStream("/chat", body, (kind, data) => {
      if (kind === "start") {
        conversation = data.conversation_id;
        box.querySelector(".chat-meta").textContent = `${data.intent}${sure(data.confidence)} · ${data.expert} · ${data.backend} — answering`;
      } else if (kind === "piece") {
        text.append(data.text);
        turns.scrollTop = turns.scrollHeight;
      } else if (kind === "end") {
        ended = true;
        box.replaceWith(answerBox(data.turn));
      } else if (kind === "error") {
        stop(new Error(data.detail), "The answer stopped");
      }
    });
  } catch (error) {
    stop(error, "The assistant could not answer");
    error.shownInPlace = true;
    throw error;
  }
  if (!ended) stop(new Error("the server closed the answer's stream before its end"), "The answer stopped");
  return conversation;
}

function bubble(role, text) {
  return h("div", { class: `chat-turn ${role}` }, h("div", { class: "chat-text" }, text));
}

function answerBox(turn) {
  const speed = turn.tokens_per_s ? `${number(turn.tokens_per_s, 3)} tokens/s` : "—";
  const first = turn.first_token_ms === null ? "—" : `${number(turn.first_token_ms, 3)} ms`;
  const meta = h("div", { class: "chat-meta muted small", title: turn.reason },
    `${turn.intent}${sure(turn.confidence)} · ${turn.expert}${turn.adapter ? ` (${turn.adapter})` : ""} · ${turn.backend} · first token ${first} · ${speed}${recalled(turn.recalled)}${checked(turn)}`);
  const verdict = h("span", { class: "chat-verdict small", id: `verdict-${turn.id}` }, turn.verdict ? `marked ${turn.verdict}` : "");
  const correction = h("div", { class: "chat-correction" }, turn.correction ? h("div", { class: "small" }, "Correction: ", turn.correction) : null);
  const judge = async (value, corrected = null) => {
    try {
      const kept = await api.post(`/chat/turns/${turn.id}/feedback`, value === "correction" ? { verdict: value, correction: corrected } : { verdict: value });
      verdict.textContent = `marked ${kept.verdict}`;
      fill(correction, kept.correction ? h("div", { class: "small" }, "Correction: ", kept.correction) : null);
    } catch (error) {
      toast(error.message, "error");
    }
  };
  const correct = () => {
    const field = h("textarea", { rows: 3, class: "chat-correction-text", placeholder: "The right answer" }, turn.correction || "");
    fill(correction, field, h("div", { class: "toolbar" },
      h("button", { type: "button", class: "primary", onclick: () => judge("correction", field.value) }, "Save correction"),
      h("button", { type: "button", onclick: () => fill(correction) }, "Cancel")));
    field.focus();
  };
  return h("div", { class: "chat-turn assistant", "data-turn": turn.id },
    h("div", { class: "chat-text chat-markdown" }, markdown(turn.answer)), meta,
    h("div", { class: "chat-actions toolbar" },
      h("button", { type: "button", class: "small", onclick: () => judge("good") }, "Good"),
      h("button", { type: "button", class: "small", onclick: () => judge("bad") }, "Bad"),
      h("button", { type: "button", class: "small", onclick: correct }, "Correct"), verdict),
    correction);
}

/** What the guardian found running the answer's code (its message as the title). */
function checked(turn) {
  if (!turn.check_status) return "";
  return turn.check_status === "passed" ? " · its code ran clean" : ` · its code: ${turn.check_status} (${turn.check_message})`;
}

// The router's calibrated confidence in the intent, as the terminal shows it (absent on a turn
// read back: it is not kept).
function sure(confidence) {
  return typeof confidence === "number" ? ` ${confidence.toFixed(2)}` : "";
}

function recalled(count) {
  return count ? ` · ${count} ${count === 1 ? "memory" : "memories"} recalled` : "";
}

/** What the assistant remembers of the user: loaded when opened, searched as they type. */
function memoryPanel() {
  const found = h("ul", { class: "chat-memories", id: "chat-memories" });
  const search = h("input", { type: "search", id: "chat-memory-search", placeholder: "Find by meaning…", maxlength: 20000, "aria-label": "Find a memory" });
  let asked = 0;  // the latest draw's number: an older answer arriving late is dropped
  const draw = async () => {
    const q = search.value.trim();
    const mine = ++asked;
    try {
      const page = await api.get("/chat/memories", q ? { q, limit: 20 } : { limit: 50 });
      if (mine !== asked) return;
      fill(found, page.data.length ? null : h("li", { class: "muted small" }, q ? "Nothing like that." : "Nothing remembered yet."),
        ...page.data.map((memory) => memoryItem(memory, draw)));
    } catch (error) {
      if (mine === asked) fill(found, h("li", {}, errorBox(error, "Memory")));
    }
  };
  search.addEventListener("input", debounce(draw, 300));
  const forgetAll = h("button", { type: "button", class: "small danger", id: "chat-forget-all", onclick: async () => {
    const sure = await dialog({ title: "Forget everything?", body: "The assistant forgets every message it remembers of you in this project. Conversations stay.", confirm: "Forget all", danger: true });
    if (!sure) return;
    try {
      const gone = await api.delete("/chat/memories");
      toast(`${gone.deleted} forgotten`);
      await draw();
    } catch (error) {
      toast(error.message, "error");
    }
  } }, "Forget all");
  const panel = h("details", { class: "chat-memory", id: "chat-memory" },
    h("summary", {}, "What the assistant remembers"), search, found, h("div", { class: "toolbar" }, forgetAll));
  panel.addEventListener("toggle", () => { if (panel.open) draw(); });
  return panel;
}

function memoryItem(memory, redraw) {
  const where = memory.conversation_id ? h("a", { href: `#/chat/${memory.conversation_id}` }, time(memory.created_at)) : time(memory.created_at);
  const close = memory.similarity === null ? null : h("span", { class: "muted", title: "Similarity to the search" }, ` · ${number(memory.similarity, 2)}`);
  return h("li", { "data-memory": memory.id },
    h("div", { class: "chat-memory-text" }, memory.text),
    h("div", { class: "muted small" }, where, close, " ",
      h("button", { type: "button", class: "link small", title: "Forget this", onclick: async () => {
        try {
          await api.delete(`/chat/memories/${memory.id}`);
          await redraw();
        } catch (error) {
          toast(error.message, "error");
        }
      } }, "Forget")));
}
