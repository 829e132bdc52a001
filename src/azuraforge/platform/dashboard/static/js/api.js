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

async function request(method, path, { query, body, signal } = {}) {
  const init = { method, signal, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "UNREACHABLE", "Cannot reach the AzuraForge server: is `azuraforge serve` still running?");
  }
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
  delete: (path, query) => request("DELETE", path, { query }),
};

/** The address of a run's file, for links and images. */
export function artifactUrl(experimentId, path) {
  const parts = path.split("/").map(encodeURIComponent).join("/");
  return `${BASE}/experiments/${experimentId}/artifacts/${parts}`;
}

/**
 * A WebSocket stream of the API. `onMessage` gets each parsed message; `onClose(event)` is
 * called once it ends for good. With `reconnect`, a dropped stream is opened again (after 1,
 * 2, 4... up to 10 s; back to 1 s once a message came through) until `close()` is called,
 * and `onReconnect` runs each time it is back. A close the server gave a reason for (codes
 * 4000-4999: an unknown run) is final.
 */
export function stream(path, { onMessage, onClose, onReconnect, reconnect = false }) {
  let socket = null;
  let closed = false;
  let delay = 1000;
  let timer = null;
  let opened = false;
  const address = url(path);
  address.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";

  function open() {
    socket = new WebSocket(address);
    socket.onopen = () => {
      if (opened && onReconnect) onReconnect();
      opened = true;
    };
    socket.onmessage = (event) => {
      delay = 1000;
      onMessage(JSON.parse(event.data));
    };
    socket.onclose = (event) => {
      if (closed) return;
      if (reconnect && !(event.code >= 4000 && event.code < 5000)) {
        timer = setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
        return;
      }
      closed = true;
      if (onClose) onClose(event);
    };
  }
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (socket && socket.readyState <= 1) socket.close();
    },
  };
}
