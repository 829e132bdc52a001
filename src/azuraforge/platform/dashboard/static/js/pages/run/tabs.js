// The lower half of a run's page: its report (rendered), config, logs (live) and files, one
// tab at a time. A tab whose data comes after the reader moved to another is not drawn.

import { api, artifactUrl } from "../../api.js";
import { replaceQuery } from "../../router.js";
import { FINISHED, bytes, errorBox, fill, flatten, h, loading, shown, time } from "../../ui.js";

export const TABS = [["report", "Report"], ["config", "Config"], ["logs", "Logs"], ["files", "Files"]];
const LOG_PAGE = 1000;
const MOST_LOG_PAGES = 20;

/**
 * The tabs of run `id`; `current()` gives the run as last read. Returns `{element, show(),
 * addLog(message), filesChanged(), catchUp()}`; `show()` draws the chosen tab again,
 * `catchUp()` reads what the page missed while its stream was down (log lines, files).
 */
export function runTabs(id, current, chosen) {
  let tab = TABS.some(([key]) => key === chosen) ? chosen : "report";
  let filesStale = false;
  const logs = runLogs(id);
  const bar = h("div", { class: "tabs", role: "tablist" });
  const body = h("div", { id: "tab-body" });

  function drawBar() {
    fill(bar, TABS.map(([key, label]) => h("button", {
      role: "tab", class: key === tab ? "active" : "", "aria-selected": String(key === tab), dataset: { tab: key },
      onclick: () => {
        tab = key;
        replaceQuery(new URLSearchParams({ tab }));
        drawBar();
        show();
      },
    }, label)));
  }

  async function content(wanted) {
    const run = current();
    if (wanted === "config") return configTable(run);
    if (wanted === "logs") return logs.load();
    if (wanted === "files") {
      if (filesStale) {
        filesStale = false;
        return filesTable(id, (await api.get(`/runs/${id}`)).artifacts);
      }
      return filesTable(id, run.artifacts);
    }
    return report(id, run);
  }

  async function show() {
    const wanted = tab;
    fill(body, loading());
    let drawn;
    try {
      drawn = await content(wanted);
    } catch (error) {
      drawn = errorBox(error, `The ${wanted} could not be loaded`);
    }
    if (tab === wanted) fill(body, drawn);
  }

  drawBar();
  return {
    element: h("div", {}, bar, body),
    show,
    addLog(message) {
      logs.add(message, tab === "logs");
    },
    filesChanged() {
      filesStale = true;
      if (tab === "files") show();
    },
    async catchUp() {
      filesStale = true;
      if (await logs.catchUp() || tab === "files") show();
    },
  };
}

async function report(id, run) {
  if (!FINISHED.has(run.status)) return h("p", { class: "muted" }, "The report is written when the run ends.");
  let written;
  try {
    written = await api.get(`/runs/${id}/report`);
  } catch (error) {
    if (error.status === 404) return h("p", { class: "muted" }, error.message);
    throw error;
  }
  const article = h("article", { class: "report", id: "report" });
  // The one place HTML from the API is shown: the server rendered it from Markdown with raw
  // HTML escaped, and the page's content security policy runs no script it might hold.
  article.innerHTML = written.html;
  return [h("div", { class: "row small" }, h("a", { href: artifactUrl(id, written.path), download: "" }, `Download ${written.path}`)), article];
}

function configTable(run) {
  return h("div", { class: "table-wrap" }, h("table", { class: "kv", id: "config" }, h("tbody", {},
    Object.entries(flatten(run.config)).map(([key, value]) => h("tr", {}, h("td", {}, key), h("td", {}, h("code", {}, shown(value))))))));
}

function filesTable(id, artifacts) {
  const files = artifacts.filter((a) => !a.is_dir);
  if (!files.length) return h("p", { class: "muted" }, "No files yet.");
  return h("div", { class: "table-wrap" }, h("table", { id: "files" },
    h("thead", {}, h("tr", {}, h("th", {}, "file"), h("th", { class: "num" }, "size"), h("th", {}, "written"))),
    h("tbody", {}, files.map((file) => h("tr", {},
      h("td", {}, h("a", { href: artifactUrl(id, file.path), download: "" }, file.path)),
      h("td", { class: "num" }, bytes(file.size)),
      h("td", { class: "small" }, time(file.created_at)))))));
}

/** A run's log lines: read once (the first 20,000), then kept up to date by the stream, and
 * read again from the last one held after the stream was down. */
function runLogs(id) {
  const lines = new Map(); // event id -> line; the stream and the first read may overlap
  const box = h("pre", { class: "logs", id: "logs" });
  const note = h("p", { class: "small muted" });
  let loaded = null;

  function line(entry) {
    return h("div", { class: String(entry.level).toLowerCase() },
      h("span", { class: "time" }, new Date(entry.time * 1000).toLocaleTimeString("en-GB")), ` ${entry.level.padEnd(7)} ${entry.message}`);
  }

  async function read(after = 0) {
    for (let page = 0; page < MOST_LOG_PAGES; page += 1) {
      const { data, next_after } = await api.get(`/runs/${id}/logs`, { after, limit: LOG_PAGE });
      for (const entry of data) lines.set(entry.id, entry);
      if (data.length < LOG_PAGE) return;
      after = next_after;
    }
    note.textContent = `Only the first ${(LOG_PAGE * MOST_LOG_PAGES).toLocaleString("en-US")} lines and those logged since the page opened are shown (GET /api/v1/runs/${id}/logs?after=… reads the rest).`;
  }

  return {
    async load() {
      loaded ??= read().catch((error) => {
        loaded = null;
        throw error;
      });
      await loaded;
      const sorted = [...lines.values()].sort((a, b) => a.id - b.id);
      fill(box, sorted.length ? sorted.map(line) : h("span", { class: "time" }, "No log lines yet."));
      requestAnimationFrame(() => { box.scrollTop = box.scrollHeight; });
      return [note, box];
    },
    /** Read the lines logged since the last one held (once read); whether there were any.
     * A failed read is left to the next reconnection: the page says it is disconnected. */
    async catchUp() {
      if (!loaded) return false;
      const before = lines.size;
      await read(Math.max(0, ...lines.keys())).catch(() => {});
      return lines.size > before;
    },
    add(entry, visible) {
      if (lines.has(entry.id)) return;
      lines.set(entry.id, entry);
      if (!visible || !box.isConnected) return;
      const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
      if (lines.size === 1) fill(box);
      box.append(line(entry));
      if (atBottom) box.scrollTop = box.scrollHeight;
    },
  };
}
