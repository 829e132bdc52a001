// A picker for a file setting (a forecaster's csv): the files of the project's data folder
// (GET /data), with their rows, and an upload button (PUT /data/{name}, the file's own name).
// The server's CSV reader checks an upload before keeping it; its message shows here when it
// refuses one. A picked or uploaded file fills the setting.

import { ApiError, api } from "./api.js";
import { dialog, fill, h, toast } from "./ui.js";

/** The picker of the file setting `field`; `pick(name)` fills the setting with a file's name. */
export function dataFilePicker(field, pick) {
  const select = h("select", {
    id: `files-${field.path}`, "aria-label": `Files of the project's data folder for ${field.title}`,
    onchange: () => { if (select.value) pick(select.value); },
  });
  const chooser = h("input", {
    type: "file", accept: ".csv,text/csv", hidden: true, id: `upload-${field.path}`,
    onchange: () => upload(chooser.files[0]),
  });
  const button = h("button", { type: "button", class: "small", onclick: () => chooser.click() }, "Upload CSV…");
  const status = h("div", { class: "help", id: `upload-status-${field.path}`, role: "status" });

  async function refresh(selected = "") {
    let files = [];
    try {
      files = await api.get("/data");
    } catch (error) {
      status.textContent = `The data folder's files could not be listed: ${error.message}`;
    }
    fill(select,
      h("option", { value: "" }, files.length ? "a file of the data folder…" : "no file in the data folder yet"),
      files.map((file) => h("option", { value: file.name, selected: file.name === selected, title: file.problem || file.columns.join(", ") },
        file.problem ? `${file.name} (does not read)` : `${file.name} · ${file.rows.toLocaleString()} rows`)));
  }

  async function send(file, overwrite) {
    return api.upload(`/data/${encodeURIComponent(file.name)}`, file, overwrite ? { overwrite: true } : undefined);
  }

  async function upload(file) {
    if (!file) return;
    status.classList.remove("field-error");
    status.textContent = `Uploading ${file.name}…`;
    button.disabled = true;
    try {
      let kept;
      try {
        kept = await send(file, false);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 409)) throw error;
        const replace = await dialog({ title: "Replace the file?", body: `${file.name} is in the project's data folder already. Replace it with this one?`, confirm: "Replace", danger: true });
        if (!replace) {
          status.textContent = "";
          return;
        }
        kept = await send(file, true);
      }
      await refresh(kept.name);
      pick(kept.name); // the field holds the file before the status says it is there
      status.textContent = `${kept.name}: ${kept.rows.toLocaleString()} rows; columns ${kept.columns.join(", ")}`;
      toast(`Uploaded ${kept.name}.`, "ok");
    } catch (error) {
      status.classList.add("field-error");
      status.textContent = `Not uploaded: ${error.message}`;
    } finally {
      button.disabled = false;
      chooser.value = "";
    }
  }

  refresh();
  return h("div", { class: "file-picker" }, h("div", { class: "file-picker-row" }, select, button, chooser), status);
}
