// Start a stream: its config's JSON Schema (GET /streams/schema) draws the form, as a pipeline's
// does on the launch page, with the same picker and upload of the data folder's files for its
// source. Values are checked before anything is sent, the API's 422 messages land on the field
// they name, and a started stream opens its page.

import { ApiError, api } from "../../api.js";
import { dataFilePicker } from "../../datafiles.js";
import { schemaForm } from "../../form.js";
import { navigate } from "../../router.js";
import { errorBox, fill, h, toast } from "../../ui.js";

const FIRST = { source: "btc-hourly" };

export async function renderNew(main) {
  const schema = await api.get("/streams/schema");
  const form = schemaForm(schema, { values: FIRST, filePicker: dataFilePicker });
  const nameInput = h("input", { type: "text", id: "stream-name", name: "name", placeholder: "generated when empty", maxlength: "200", autocomplete: "off" });
  const formError = h("div");
  const submitButton = h("button", { type: "submit", class: "primary", id: "stream-submit" }, "Start");
  fill(main,
    h("div", { class: "page-head" }, h("h1", {}, "Start a stream"), h("a", { href: "#/streams" }, "All streams")),
    h("form", { class: "card", novalidate: true, onsubmit: (event) => { event.preventDefault(); submit(); } },
      h("div", { class: "form-grid" },
        h("div", { class: "field" }, h("label", { for: "stream-name" }, "Stream name"), nameInput, h("div", { class: "help" }, "Unique in the project; also the name of its champions' model in the registry."))),
      h("p", { class: "muted" }, "A stream learns the next direction of a price one event at a time, on a worker: give a source (a dataset or a CSV of the data folder), a url the server allows, or a plugin source it allows."),
      h("h2", {}, "Settings"), form.element, formError,
      h("div", { class: "form-actions" }, submitButton)));

  async function submit() {
    fill(formError);
    const { config, errors } = form.read();
    if (Object.keys(errors).length) {
      form.focusFirstError();
      fill(formError, errorBox(new Error(`${Object.keys(errors).length} setting(s) need a fix: ${Object.entries(errors).map(([path, message]) => `${path} ${message}`).join("; ")}`), "Not started"));
      return;
    }
    const body = { config, ...(nameInput.value.trim() ? { name: nameInput.value.trim() } : {}) };
    submitButton.disabled = true;
    try {
      const created = await api.post("/streams", body);
      toast(`Started stream ${created.id}.`, "ok");
      navigate(`#/streams/${created.id}`);
    } catch (error) {
      const details = error instanceof ApiError ? error.details : [];
      if (form.showErrors(details).length < details.length) form.focusFirstError();
      fill(formError, errorBox(error, "The API refused the stream"));
    } finally {
      submitButton.disabled = false;
    }
  }
  return null;
}
