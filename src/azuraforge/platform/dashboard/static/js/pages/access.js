// Access: the project's members and their roles (its admins change them), and the user's own
// API tokens for the project (made at most at their role, shown once, revoked). A token made
// without the password asked again ends with this session: the browser sends the session's
// cookie to every program on the server's host, and it must not buy more than it holds.

import { ApiError, api } from "../api.js";
import { errorBox, fill, h, time, toast } from "../ui.js";

const ROLES = ["viewer", "editor", "admin"];

export async function render(main) {
  const me = await api.get("/auth/me");
  const members = h("section", { id: "members" });
  const tokens = h("section", { id: "tokens" });
  fill(main, h("div", { class: "page-head" }, h("h1", {}, `Access to ${me.project}`)), members, tokens);
  await Promise.all([drawMembers(members, me), drawTokens(tokens, me)]);
  return null;
}

async function drawMembers(section, me) {
  let rows;
  try {
    rows = await api.get("/access/members");
  } catch (error) {
    const why = error instanceof ApiError && error.status === 403 ? `Only the project's admins see its members (you are ${me.role}).` : null;
    fill(section, h("h2", {}, "Members"), why ? h("p", { class: "notice" }, why) : errorBox(error, "Members"));
    return;
  }
  const redraw = () => drawMembers(section, me);
  const user = h("input", { name: "user", id: "member-user", placeholder: "user name", required: true });
  const role = h("select", { name: "role", id: "member-role" }, ...ROLES.map((r) => h("option", { value: r }, r)));
  const add = h("form", { class: "toolbar", id: "member-form", onsubmit: async (event) => {
    event.preventDefault();
    await act(() => api.put(`/access/members/${encodeURIComponent(user.value)}`, { role: role.value }), redraw);
  } }, user, role, h("button", { type: "submit", class: "primary" }, "Add or change"));
  const table = h("table", { class: "table", id: "members-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "User"), h("th", {}, "Role"), h("th", {}))),
    h("tbody", {}, ...rows.map((m) => h("tr", { "data-user": m.user },
      h("td", {}, m.user), h("td", {}, m.role),
      h("td", {}, h("button", { type: "button", class: "danger", onclick: () => act(() => api.delete(`/access/members/${encodeURIComponent(m.user)}`), redraw) }, "Remove"))))));
  fill(section, h("h2", {}, "Members"), table, add);
}

async function drawTokens(section, me) {
  let rows;
  try {
    rows = await api.get("/access/tokens");
  } catch (error) {
    fill(section, h("h2", {}, "Your tokens"), errorBox(error, "Tokens"));
    return;
  }
  const redraw = () => drawTokens(section, me);
  const name = h("input", { name: "name", id: "token-name", placeholder: "what it is for" });
  const role = h("select", { name: "role", id: "token-role" }, ...ROLES.slice(0, ROLES.indexOf(me.role) + 1).map((r) => h("option", { value: r }, r)));
  const password = h("input", { name: "password", id: "token-password", type: "password", autocomplete: "current-password",
    placeholder: "your password", title: "Asked again for a token that lasts 90 days; without it, the token ends with this session" });
  const shown = h("div", { id: "token-made" });
  const make = h("form", { class: "toolbar", id: "token-form", onsubmit: async (event) => {
    event.preventDefault();
    await act(async () => {
      const body = { name: name.value, role: role.value, ...(password.value ? { password: password.value } : {}) };
      const made = await api.post("/access/tokens", body);
      await drawTokens(section, me);
      section.querySelector("#token-made").replaceWith(h("div", { id: "token-made", class: "notice" },
        "Your new token, shown this once: ", h("code", { id: "token-secret" }, made.token),
        made.kind === "session" ? ` It ends with this session (${time(made.expires_at)}, or when you sign out); give your password for one of 90 days.` : ""));
    });
  } }, name, role, password, h("button", { type: "submit", class: "primary" }, "Make a token"));
  const table = h("table", { class: "table", id: "tokens-table" },
    h("thead", {}, h("tr", {}, ...["Prefix", "Name", "Role", "Made", "Expires", "Last used", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, ...rows.map((t) => h("tr", { "data-prefix": t.prefix },
      h("td", {}, h("code", {}, t.prefix)), h("td", {}, t.name), h("td", {}, t.role), h("td", {}, time(t.created_at)),
      h("td", {}, t.kind === "session" ? `with its session (${time(t.expires_at)})` : t.expires_at ? time(t.expires_at) : "never"), h("td", {}, t.last_used_at ? time(t.last_used_at) : "—"),
      h("td", {}, t.revoked_at ? "revoked" : h("button", { type: "button", class: "danger", onclick: () => act(() => api.delete(`/access/tokens/${t.prefix}`), redraw) }, "Revoke"))))));
  fill(section, h("h2", {}, "Your tokens"), table, make, shown);
}

async function act(call, after) {
  try {
    await call();
    if (after) await after();
  } catch (error) {
    toast(error.message, "error");
  }
}
