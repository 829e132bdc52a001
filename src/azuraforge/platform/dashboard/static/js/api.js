// The public API of AzuraForge, as the dashboard calls it: JSON over HTTP under /api/v1 and
// WebSocket streams. Every failure becomes an ApiError with a message a person can read.

export const BASE = "/api/v1";

/** An API error: the HTTP status, the API's code and message, and per-field details. */
export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
  }
}

function url(path, query) {
  const address = new URL(BASE + path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => address.searchParams.append(key, item));
    else address.searchParams.set(key, value);
  }
  return address;
}

// ---- reachability: whether the server answered the last request or stream ------------------

const reachabilityWatchers = new Set();
let reachable = true;
// What a proxy in front answers when the server behind it is gone (the API never does).
const GATEWAY_FAILURES = new Set([502, 504]);

function reached(now) {
  if (now === reachable) return;
  reachable = now;
  for (const watcher of [...reachabilityWatchers]) watcher(now);
}

/** Whether the server answered the last request or stream opened (false after a network
 * failure, until it answers again). */
export function serverReachable() {
  return reachable;
}

/** Call `watcher(reachable)` each time the server stops or starts answering; returns a
 * function that stops watching. */
export function watchReachability(watcher) {
  reachabilityWatchers.add(watcher);
  return () => reachabilityWatchers.delete(watcher);
}

async function request(method, path, { query, body, file, signal } = {}) {
  const init = { method, signal, headers: {} };
  if (file !== undefined) { // sent as it is, streamed by the browser
    init.headers["content-type"] = file.type || "application/octet-stream";
    init.body = file;
  } else if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    reached(false);
    throw new ApiError(0, "UNREACHABLE", "Cannot reach the AzuraForge server: is `azuraforge serve` still running?");
  }
  reached(!GATEWAY_FAILURES.has(response.status));
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error;
    const message = error?.message || `${method} ${path} answered HTTP ${response.status}`;
    throw new ApiError(response.status, error?.code || `HTTP_${response.status}`, message, error?.details);
  }
  return data;
}

export const api = {
  get: (path, query, options = {}) => request("GET", path, { query, ...options }),
  post: (path, body, query) => request("POST", path, { body, query }),
  put: (path, body) => request("PUT", path, { body }),
  patch: (path, body) => request("PATCH", path, { body }),
  delete: (path, query) => request("DELETE", path, { query }),
  /** PUT a file (a `File` or `Blob`) as the body, as it is. */
  upload: (path, file, query) => request("PUT", path, { file, query }),
};

/**
 * POST `body` to `path`, whose answer is server-sent events: `onEvent(kind, data)` for each as
 * it comes (the chat's answer, piece by piece). A refusal throws an ApiError as `api` does.
 */
export async function askStream(path, body, onEvent) {
  let response;
  try {
    response = await fetch(url(path), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  } catch {
    reached(false);
    throw new ApiError(0, "UNREACHABLE", "Cannot reach the AzuraForge server: is `azuraforge serve` still running?");
  }
  reached(true);
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiError(response.status, data?.error?.code || `HTTP_${response.status}`, data?.error?.message || `POST ${path} answered HTTP ${response.status}`, data?.error?.details);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    let cut;
    while ((cut = pending.indexOf("\n\n")) >= 0) {
      const block = pending.slice(0, cut);
      pending = pending.slice(cut + 2);
      const kind = /^event: (.*)$/m.exec(block)?.[1] || "message";
      const data = /^data: (.*)$/m.exec(block)?.[1];
      onEvent(kind, data ? JSON.parse(data) : {});
    }
  }
}

/** The address of `path` with `query` (arrays repeat their key), for links: a download. */
export function listUrl(path, query) {
  return url(path, query);
}

/** The address of a run's file, for links and images. */
export function artifactUrl(experimentId, path) {
  const parts = path.split("/").map(encodeURIComponent).join("/");
  return `${BASE}/runs/${experimentId}/artifacts/${parts}`;
}

/**
 * A WebSocket stream of the API. `onMessage` gets each parsed message; `onClose(event)` is
 * called once it ends for good. With `reconnect`, a stream that drops (or whose server stops
 * answering requests) is opened again after 1, 2, 4... up to 10 s, and at once when the
 * server answers again (back to 1 s once a message came through), until `close()` is called:
 * `onDrop()` runs when it drops or cannot open, `onReconnect()` once it is open again. A drop
 * asks /health whether the server is still there (the header shows the answer). A close the
 * server gave a reason for (codes 4000-4999: an unknown run) is final. `onOpen(resumed)` runs
 * each time it opens, the first time included: a page that read its data as the stream was
 * opening reads it again there, as what changed in between came in neither, unless `resumed`.
 *
 * A reconnecting stream resumes: it remembers the `id` of the last message (a run's `history`
 * gives `last_event_id`) and opens again with `?after=<id>`, so the server (any replica) sends
 * each event it missed, once, in order; `resumed` is then true and `onReconnect(true)` too.
 * When the server cannot place that id (a `reset` message: its run deleted, or pruned),
 * `onReset()` runs, and the page reads its data again (the default: `onOpen(false)`).
 */
export function stream(path, { onMessage, onClose, onDrop, onOpen, onReconnect, onReset, reconnect = false }) {
  let socket = null;
  let closed = false;
  let delay = 1000;
  let timer = null;
  let down = false; // dropped, and not open again yet
  let unwatch = null;
  let lastId = null; // the id of the last event received: where a reconnection resumes
  const address = url(path);
  address.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";

  function open() {
    clearTimeout(timer);
    timer = null;
    const resumed = reconnect && lastId !== null;
    if (resumed) address.searchParams.set("after", lastId);
    socket = new WebSocket(address);
    socket.onopen = () => {
      reached(true);
      if (onOpen) onOpen(resumed);
      if (down && onReconnect) onReconnect(resumed);
      down = false;
    };
    socket.onmessage = (event) => {
      delay = 1000;
      const message = JSON.parse(event.data);
      const id = message.type === "history" ? message.last_event_id : message.id;
      if (Number.isInteger(id) && id > 0) lastId = id;
      if (message.type !== "reset") onMessage(message);
      else if (onReset) onReset();
      else if (onOpen) onOpen(false);
    };
    socket.onclose = (event) => {
      if (closed) return;
      if (reconnect && !(event.code >= 4000 && event.code < 5000)) {
        request("GET", "/health").catch(() => {}); // reachable or not: the watchers hear it
        return retry(event.target);
      }
      stop();
      if (onClose) onClose(event);
    };
  }

  /** Leave `dropped` (closed, or open to a server that no longer answers) and open anew. */
  function retry(dropped) {
    dropped.onopen = dropped.onmessage = dropped.onclose = null;
    if (dropped.readyState <= WebSocket.OPEN) dropped.close();
    if (!down && onDrop) onDrop();
    down = true;
    timer = setTimeout(open, delay);
    delay = Math.min(delay * 2, 10000);
  }

  function stop() {
    closed = true;
    clearTimeout(timer);
    if (unwatch) unwatch();
  }

  if (reconnect) {
    unwatch = watchReachability((now) => {
      if (now && timer !== null) open();
      else if (!now && socket.readyState === WebSocket.OPEN) retry(socket);
    });
  }
  open();
  return {
    close() {
      stop();
      if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
    },
  };
}
