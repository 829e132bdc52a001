// Who is signed in, and in which project: the sign-in page when nobody is, the header's
// project picker (switching signs the session again for the project chosen), a dialog that
// creates a project, and signing out.

import { ApiError, api } from "./api.js";
import { dialog, errorBox, fill, h, toast } from "./ui.js";

/** The caller (`{user, project, role}`), or null when the server asks for a credential. */
export async function whoAmI() {
  try {
    return await api.get("/auth/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

/** The sign-in page, drawn into `main`; the page reloads once signed in. */
export function renderSignIn(main) {
  const problem = h("p", { class: "error", id: "sign-in-error", role: "alert" });
  const form = h("form", { class: "sign-in", id: "sign-in" },
    h("h1", {}, "Sign in to AzuraForge"),
    h("label", {}, "Name", h("input", { name: "name", autocomplete: "username", required: true })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("label", {}, "Project", h("input", { name: "project", value: "default", required: true })),
    problem,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    h("p", { class: "hint" }, "The server's first start prints a one-time login link; `azuraforge users link NAME` makes another."));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = Object.fromEntries(new FormData(form).entries());
    try {
      await api.post("/auth/login", body);
      window.location.reload();
    } catch (error) {
      problem.textContent = error.message;
    }
  });
  fill(main, form);
}

/** The header's user, project picker (with "New project…" for an admin: a project's maker is
 * its admin) and sign-out, for `me`. */
export async function renderWho(slot, me) {
  let projects = [];
  try {
    projects = await api.get("/auth/projects");
  } catch (error) {
    fill(slot, errorBox(error, "Projects"));
    return;
  }
  const picker = h("select", { id: "project-picker", "aria-label": "Project" },
    ...projects.map((p) => h("option", { value: p.name, selected: p.name === me.project }, `${p.name} (${p.role})`)),
    ...(me.role === "admin" ? [h("option", { value: "" }, "New project…")] : []));
  picker.addEventListener("change", async () => {
    const chosen = picker.value || (await newProject());
    if (!chosen) {
      picker.value = me.project;
      return;
    }
    await switchTo(chosen);
  });
  const out = h("button", { type: "button", class: "link", id: "sign-out" }, "Sign out");
  out.addEventListener("click", async () => {
    await api.post("/auth/logout");
    window.location.reload();
  });
  const access = h("a", { href: "#/access", id: "access-link", title: "Members and your tokens" }, "Access");
  fill(slot, h("span", { class: "user", title: `${me.role} in ${me.project}` }, me.user), picker, access, out);
}

async function newProject() {
  const values = await dialog({
    title: "Create a project",
    body: h("label", {}, "Name", h("input", { name: "project", id: "new-project-name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,99}" })),
    confirm: "Create",
  });
  if (!values) return null;
  try {
    await api.post("/auth/projects", { project: values.project });
    return values.project;
  } catch (error) {
    toast(error.message, "error");
    return null;
  }
}

async function switchTo(project) {
  try {
    await api.post("/auth/project", { project });
    window.location.hash = "#/runs";
    window.location.reload();
  } catch (error) {
    toast(error.message, "error");
  }
}
