// Small DOM helpers and the widgets every page shares. Text always goes in as text nodes:
// nothing a run, a model or a file names is ever parsed as HTML here.

export const FINISHED = new Set(["completed", "failed", "cancelled", "lost", "pruned"]);
export const STATUSES = ["queued", "running", "completed", "failed", "cancelled", "lost", "pruned"];

/**
 * An element: `h("a", {href: "#/x", class: "button", onclick: go}, "text", child, [more])`.
 * Keys starting with "on" add listeners; `dataset` and `style` objects are merged; `false`,
 * `null` and `undefined` attributes and children are skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "dataset" || key === "style") {
      Object.assign(element[key], value);
    } else if (key === "class") {
      element.className = value;
    } else if (key in element && typeof value !== "string") {
      element[key] = value;
    } else {
      element.setAttribute(key, value === true ? "" : value);
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/** Replace what `element` holds with `children`. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// ---- formatting ---------------------------------------------------------------------------

/** A number with four significant digits (integers whole), "—" for none. */
export function number(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return value.toLocaleString("en-US");
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e7)) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toLocaleString("en-US", { maximumFractionDigits: 10 });
}

/** A Unix time (seconds) as a local date and time, "—" for none. */
export function time(seconds) {
  if (!seconds) return "—";
  const date = new Date(seconds * 1000);
  return date.toLocaleString("en-GB", { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** How long ago a Unix time was ("5 s ago", "3 min ago"...). */
export function ago(seconds) {
  if (!seconds) return "—";
  return `${duration(Date.now() / 1000 - seconds)} ago`;
}

/** A number of seconds as "850 ms", "42 s", "3 min 5 s", "2 h 10 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

/** How long a run took, or has been running. */
export function runTime(run) {
  if (!run.started_at) return "—";
  return duration((run.finished_at || Date.now() / 1000) - run.started_at);
}

/** A file size in bytes as "1.2 MB". */
export function bytes(size) {
  if (size < 1024) return `${size} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

// ---- widgets ------------------------------------------------------------------------------

export function badge(status, extraClass = "") {
  return h("span", { class: `badge ${status} ${extraClass}`.trim(), dataset: { status } }, status);
}

/**
 * A progress bar; `update(fraction, message, status)` moves it. A completed run or study is
 * full whatever its last report said (training may stop early); one that stopped otherwise
 * stays where it stopped, greyed.
 */
export function progressBar(fraction = 0, { big = false } = {}) {
  const fillBar = h("div", { class: "fill" });
  const pct = h("span", { class: "pct" });
  const element = h("div", { class: `progress${big ? " big" : ""}`, role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" },
    h("div", { class: "bar" }, fillBar), pct);
  element.update = (value, message = "", status = "") => {
    const clamped = status === "completed" ? 1 : Math.max(0, Math.min(1, value || 0));
    fillBar.style.width = `${(clamped * 100).toFixed(1)}%`;
    pct.textContent = `${Math.round(clamped * 100)}%`;
    element.setAttribute("aria-valuenow", String(Math.round(clamped * 100)));
    element.title = status === "completed" && message ? `completed · last report: ${message}` : message || "";
    element.classList.toggle("done", status === "completed");
    element.classList.toggle("stopped", FINISHED.has(status) && status !== "completed");
  };
  element.update(fraction);
  return element;
}

export function loading(text = "Loading…") {
  return h("div", { class: "loading" }, text);
}

/** A readable box for an error (an ApiError's message, or any error's). */
export function errorBox(error, title = "Something went wrong") {
  const message = error?.message || String(error);
  return h("div", { class: "error-box", role: "alert" }, h("strong", {}, title), message);
}

export function toast(message, kind = "") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast ${kind}`.trim() }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 9000 : 4500);
}

/**
 * A modal dialog; resolves to the values of its form when confirmed, or null when dismissed.
 * `body` is an element (inputs with a `name` become the values) or text.
 */
export function dialog({ title, body, confirm = "OK", danger = false }) {
  return new Promise((resolve) => {
    const form = h("form", { method: "dialog" },
      h("h2", {}, title),
      typeof body === "string" ? h("p", {}, body) : body,
      h("div", { class: "actions" },
        h("button", { type: "button", value: "cancel", onclick: () => close(null) }, "Cancel"),
        h("button", { type: "submit", class: danger ? "danger solid" : "primary", value: "ok" }, confirm)));
    const element = h("dialog", {}, form);
    function close(value) {
      element.close();
      element.remove();
      resolve(value);
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      close(Object.fromEntries(new FormData(form).entries()));
    });
    element.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(null);
    });
    document.body.append(element);
    element.showModal();
    const first = form.querySelector("input, select, textarea");
    if (first) first.focus();
  });
}

/** A sortable header cell: shows the arrow when `active`, calls `onSort` on click. */
export function sortHeader(label, { active, descending, onSort, numeric = false, title = "" }) {
  const arrow = active ? h("span", { class: "arrow" }, descending ? "▼" : "▲") : null;
  return h("th", {
    class: `sortable${numeric ? " num" : ""}`, title: title || `Sort by ${label}`,
    "aria-sort": active ? (descending ? "descending" : "ascending") : "none", onclick: onSort,
  }, label, arrow);
}

/** A table of key/value rows. */
export function keyValues(rows) {
  return h("table", { class: "kv" }, h("tbody", {}, rows.filter(Boolean).map(([key, value]) => h("tr", {}, h("td", {}, key), h("td", {}, value)))));
}

/** `load()` into `container`: a loading line first, then what it returns, or its error. */
export async function into(container, load, errorTitle) {
  fill(container, loading());
  try {
    const content = await load();
    fill(container, content);
  } catch (error) {
    fill(container, errorBox(error, errorTitle));
  }
}

/** Run `task(item)` for each item, at most `limit` at once; resolves to [{item, error}]. */
export async function eachLimited(items, limit, task) {
  const outcomes = [];
  let next = 0;
  async function lane() {
    while (next < items.length) {
      const item = items[next++];
      try {
        outcomes.push({ item, value: await task(item) });
      } catch (error) {
        outcomes.push({ item, error });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return outcomes;
}

/** Flatten nested objects into dotted keys: {a: {b: 1}} -> {"a.b": 1}. */
export function flatten(value, prefix = "", out = {}) {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
    for (const [key, item] of Object.entries(value)) flatten(item, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) {
    out[prefix] = value;
  }
  return out;
}

/** A config value as text: JSON for lists and objects, "null" for none. */
export function shown(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") return number(value, 6);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Call `fn` once calls to it have stopped for `wait` ms, with the last call's arguments. */
export function debounce(fn, wait) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

/**
 * Fill `element` with a pager of an offset/limit listing: "11–20 of 45" ("of 10,000+" when
 * `exact` is false: the server stopped counting), buttons going a page back and forward
 * (`go(offset)`; `labels` names them: ["Newer", "Older"]...). With `sizes`, a select of page
 * sizes (`onSize(limit)`) and First and Last buttons; `id` prefixes the buttons' ids.
 */
export function offsetPager(element, { offset, limit, shown, total, go, exact = true, labels = ["Previous", "Next"], sizes = null, onSize = null, id = "page" }) {
  const last = offset + shown;
  const more = exact ? last < total : shown === limit; // past a count the server stopped
  const range = total || shown ? `${(shown ? offset + 1 : 0).toLocaleString("en-US")}–${last.toLocaleString("en-US")} of ${total.toLocaleString("en-US")}${exact ? "" : "+"}` : "";
  const lastPage = Math.max(0, Math.floor((total - 1) / limit) * limit);
  return fill(element,
    h("span", { class: "muted", dataset: { total: String(total) } }, range),
    sizes && h("select", { "aria-label": "Rows per page", onchange: (e) => onSize(Number(e.target.value)) },
      sizes.map((n) => h("option", { value: String(n), selected: n === limit }, `${n} / page`))),
    sizes && h("button", { id: `${id}-first`, disabled: offset === 0, onclick: () => go(0) }, "First"),
    h("button", { id: `${id}-previous`, disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) }, labels[0]),
    h("button", { id: `${id}-next`, disabled: !more, onclick: () => go(offset + limit) }, labels[1]),
    sizes && exact && h("button", { id: `${id}-last`, disabled: !more, onclick: () => go(lastPage) }, "Last"));
}

/**
 * Toggle chips for filtering by status: each of `statuses` (with its count from `counts`
 * when given), on when in `selected`; `onToggle(status, on)` on a click, Space or Enter.
 */
export function statusChips(statuses, { selected, counts = null, onToggle, label = "Status filter", id = null }) {
  return h("div", { class: "chips", role: "group", "aria-label": label, id }, statuses.map((status) => {
    const on = selected.includes(status);
    const toggle = (event) => {
      const chip = event.currentTarget;
      const now = chip.getAttribute("aria-checked") !== "true";
      chip.classList.toggle("on", now);
      chip.setAttribute("aria-checked", String(now));
      onToggle(status, now);
    };
    return h("span", {
      class: `chip${on ? " on" : ""}`, role: "checkbox", tabindex: "0", "aria-checked": String(on), dataset: { status },
      onclick: toggle,
      onkeydown: (event) => { if (event.key === " " || event.key === "Enter") { event.preventDefault(); toggle(event); } },
    }, counts ? `${status} ${(counts[status] || 0).toLocaleString("en-US")}` : status);
  }));
}

const LOWER_IS_BETTER = /(^|[^a-z])(mae|rmse|mse|mape|smape|mase|relativemae|loss|log ?loss|nll|error|(max[ _]?)?drawdown)([^a-z]|$)/i;
const HIGHER_IS_BETTER = /(^|[^a-z])(accuracy|directional[ _]?accuracy|acc|r2|r²|f1|precision|recall|auc|hit[ _]?rate|win[ _]?rate|sharpe|sharpe[ _]?ratio|skill|score)([^a-z0-9]|$)/i;

/**
 * Whether a lower or a higher value of the metric `name` is better, by its name ("MAE",
 * "val_loss", "MASE (m=24)", "MaxDrawdown" are lower; "Directional accuracy", "R2", "F1
 * (macro)", "Skill vs persistence", "SharpeRatio" higher: the learn metrics' class names and
 * the pipelines' labels); null when the name does not tell.
 */
export function metricDirection(name) {
  if (LOWER_IS_BETTER.test(name)) return "lower";
  if (HIGHER_IS_BETTER.test(name)) return "higher";
  return null;
}

/** Call `fn` at most once per `wait` ms while calls keep coming, the last call landing too. */
export function throttle(fn, wait) {
  let timer = null;
  let last = 0;
  const throttled = (...args) => {
    clearTimeout(timer);
    const due = last + wait - Date.now();
    if (due <= 0) {
      last = Date.now();
      fn(...args);
    } else {
      timer = setTimeout(() => {
        last = Date.now();
        fn(...args);
      }, due);
    }
  };
  throttled.cancel = () => clearTimeout(timer);
  return throttled;
}
