// What a run is called and what its people say of it, edited in place (PATCH
// /runs/{id}).

import { api } from "../../api.js";
import { fill, h, toast } from "../../ui.js";

const MAX_NAME = 195;
const MAX_NOTES = 10000;

/**
 * The run's name as a heading that becomes a text box when clicked (or Enter on it): Enter
 * or leaving the box saves, Escape leaves it unchanged. `saved(run)` gets the run as the API
 * answered.
 */
export function nameEditor(getRun, saved) {
  const title = h("h1", { id: "run-name", class: "editable", tabindex: "0" });

  function render() {
    const run = getRun();
    fill(title, run.name);
    title.title = `Run ${run.id}: click to rename`;
  }

  /** Show the run's name, unless it is being edited. */
  function show() {
    if (!title.querySelector("input")) render();
  }

  async function save(input) {
    const name = input.value.trim();
    if (!name || name === getRun().name) return render();
    input.disabled = true;
    try {
      saved(await api.patch(`/runs/${getRun().id}`, { name }));
      toast(`Renamed to ${name}.`, "ok");
    } catch (error) {
      toast(`Not renamed: ${error.message}`, "error");
    }
    render();
  }

  function edit() {
    if (title.querySelector("input")) return;
    const input = h("input", { id: "run-name-input", value: getRun().name, maxlength: String(MAX_NAME), "aria-label": "Run name" });
    let done = false;
    const finish = (keep) => {
      if (done) return;
      done = true;
      if (keep) save(input); else render();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      else if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
    fill(title, input);
    input.focus();
    input.select();
  }

  title.addEventListener("click", edit);
  title.addEventListener("keydown", (event) => { if (event.key === "Enter" && event.target === title) edit(); });
  render();
  return { element: title, show };
}

/** The run's notes: a text box and its Save button; `saved(run)` gets the run as answered. */
export function notesBox(getRun, saved) {
  const text = h("textarea", { id: "run-notes", rows: "4", maxlength: String(MAX_NOTES), placeholder: "What you want to remember of this run (plain text).", "aria-label": "Notes" });
  const state = h("span", { class: "muted small", id: "notes-state" });
  const button = h("button", { id: "save-notes", onclick: save }, "Save notes");
  let kept = getRun().notes || "";
  text.value = kept;
  text.addEventListener("input", () => { state.textContent = text.value === kept ? "" : "not saved"; });

  async function save() {
    button.disabled = true;
    try {
      const run = await api.patch(`/runs/${getRun().id}`, { notes: text.value });
      kept = run.notes;
      state.textContent = "saved";
      saved(run);
    } catch (error) {
      state.textContent = "";
      toast(`Notes not saved: ${error.message}`, "error");
    }
    button.disabled = false;
  }

  return {
    element: h("div", { class: "card", style: { marginTop: "1rem" } },
      h("h2", {}, "Notes"), text, h("div", { class: "row", style: { marginTop: "0.5rem" } }, button, state)),
    /** Notes changed elsewhere (an `edited` event): shown unless the box holds unsaved text. */
    changed(notes) {
      if (text.value === kept) text.value = notes || "";
      kept = notes || "";
    },
  };
}
