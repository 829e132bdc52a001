// The dashboard's router: the URL's fragment names the page (#/runs/12?tab=logs).
// A page module's render(main, route) draws into <main> and may return a function that
// stops what it started (streams, timers) when the page is left.

import { api, serverReachable, watchReachability } from "./api.js";
import { currentRoute } from "./router.js";
import { renderSignIn, renderWho, whoAmI } from "./session.js";
import { errorBox, fill, h, loading, toast } from "./ui.js";

// Page modules load when first shown: the runs page needs none of the charts' code.
const pages = {
  access: () => import("./pages/access.js"),
  assist: () => import("./pages/assist.js"),
  chat: () => import("./pages/chat.js"),
  compare: () => import("./pages/compare.js"),
  launch: () => import("./pages/launch.js"),
  models: () => import("./pages/models.js"),
  run: () => import("./pages/run.js"),
  runs: () => import("./pages/runs.js"),
  streams: () => import("./pages/streams.js"),
  studies: () => import("./pages/studies.js"),
};

const ROUTES = [
  [/^\/runs$/, "runs", "runs", "render"],
  [/^\/runs\/(\d+)$/, "runs", "run", "render"],
  // The addresses of the runs' pages before runs were called runs (links kept elsewhere).
  [/^\/experiments$/, "runs", "runs", "render"],
  [/^\/experiments\/(\d+)$/, "runs", "run", "render"],
  // The link MLflow's client prints when a run ends (its experiment's id, then the run's).
  [/^\/experiments\/\d+\/runs\/(\d+)$/, "runs", "run", "render"],
  [/^\/launch$/, "launch", "launch", "render"],
  [/^\/compare$/, "runs", "compare", "render"],
  [/^\/studies$/, "studies", "studies", "renderList"],
  [/^\/studies\/new$/, "studies", "studies", "renderNew"],
  [/^\/studies\/(\d+)$/, "studies", "studies", "renderDetail"],
  [/^\/streams$/, "streams", "streams", "renderList"],
  [/^\/streams\/new$/, "streams", "streams", "renderNew"],
  [/^\/streams\/(\d+)$/, "streams", "streams", "renderDetail"],
  [/^\/models$/, "models", "models", "renderList"],
  [/^\/models\/([^/]+)$/, "models", "models", "renderDetail"],
  [/^\/access$/, "access", "access", "render"],
  [/^\/chat$/, "chat", "chat", "render"],
  [/^\/chat\/(\d+)$/, "chat", "chat", "render"],
  [/^\/assist\/examples$/, "assist-examples", "assist", "renderExamples"],
  [/^\/assist\/nights$/, "assist-nights", "assist", "renderNights"],
];
// The roles that write in a project (the API's "write" right): the nav's entries marked
// data-role="write" (the assistant's review and nights, which the API refuses a viewer) are
// shown to them alone.
const WRITERS = new Set(["editor", "admin"]);

let cleanup = null;
let shown = 0;

async function show() {
  const token = ++shown;
  if (cleanup) {
    try {
      cleanup();
    } catch (error) {
      console.error(error);
    }
    cleanup = null;
  }
  const main = document.getElementById("page");
  const route = currentRoute();
  const found = ROUTES.map(([pattern, nav, page, render]) => ({ match: route.path.match(pattern), nav, page, render })).find((r) => r.match);
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", found !== undefined && link.dataset.nav === found.nav);
  }
  if (!found) {
    fill(main, errorBox(new Error(`There is no page at ${route.path}.`), "Page not found"), h("a", { href: "#/runs" }, "Go to the runs"));
    return;
  }
  // Each page draws in a container of its own: a page left while it was still loading
  // draws on into its detached container, never over the page shown now.
  const container = h("div", { class: "page-body" }, loading());
  fill(main, container);
  try {
    const module = await pages[found.page]();
    if (token !== shown) return; // another page was asked for meanwhile
    const stop = await module[found.render](container, { params: found.match.slice(1).map(decodeURIComponent), query: route.query });
    if (token !== shown) {
      if (typeof stop === "function") stop();
      return;
    }
    cleanup = typeof stop === "function" ? stop : null;
  } catch (error) {
    fill(container, errorBox(error, "This page could not be shown"));
  }
}

// The header's health: read every 30 s while the server answers; while it does not (a request
// or a stream found it gone), every 2 s, so that the page knows as soon as it is back.
const HEALTH_EVERY_MS = 30000;
const HEALTH_RETRY_MS = 2000;
let healthTimer = null;
let healthRead = null;

async function readHealth() {
  const badge = document.getElementById("health");
  try {
    const health = await api.get("/health");
    badge.textContent = `${health.status} · v${health.version}`;
    badge.classList.toggle("bad", health.status !== "ok");
    badge.title = `database ${health.database}; ${health.transport} transport`;
  } catch (error) {
    if (error.status === 503) badge.textContent = "server degraded";
    else badge.textContent = "server unreachable — retrying";
    badge.classList.add("bad");
    badge.title = error.message;
  }
}

/** Read /health now (once, if a read is already under way), then again when it is due. */
function checkHealth() {
  clearTimeout(healthTimer);
  healthRead ??= readHealth().finally(() => {
    healthRead = null;
    healthTimer = setTimeout(checkHealth, serverReachable() ? HEALTH_EVERY_MS : HEALTH_RETRY_MS);
  });
}

window.addEventListener("unhandledrejection", (event) => {
  toast(event.reason?.message || String(event.reason), "error");
});
if (!window.location.hash) window.history.replaceState(null, "", "#/runs");
checkHealth();
watchReachability(checkHealth);
// Signed in: the header shows who, in which project, and the pages follow the fragment;
// otherwise the sign-in page.
whoAmI().then((me) => {
  if (me === null) {
    renderSignIn(document.getElementById("page"));
    return;
  }
  renderWho(document.getElementById("who"), me);
  for (const link of document.querySelectorAll("[data-nav][data-role=write]")) link.hidden = !WRITERS.has(me.role);
  window.addEventListener("hashchange", show);
  show();
}, (error) => fill(document.getElementById("page"), errorBox(error, "The server could not be reached")));
