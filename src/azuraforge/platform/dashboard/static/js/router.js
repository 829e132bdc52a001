// Where the dashboard is: the URL's fragment (#/runs/12?tab=logs) names the page.

/** The page the fragment names: its path and its query. */
export function currentRoute() {
  const fragment = window.location.hash.replace(/^#/, "") || "/runs";
  const [path, search = ""] = fragment.split("?");
  return { path, query: new URLSearchParams(search) };
}

/** Go to a page (adds a history entry). */
export function navigate(fragment) {
  window.location.hash = fragment;
}

/** Change the address's query without drawing the page again (filters, tabs). */
export function replaceQuery(query) {
  const { path } = currentRoute();
  const search = query.toString();
  window.history.replaceState(null, "", `#${path}${search ? `?${search}` : ""}`);
}
