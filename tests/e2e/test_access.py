"""Signing in as a user does, in a browser with no token: the sign-in page, creating a
project from the header, switching, a run of one project invisible in the other; the Access
page's members and tokens; a page of another site cannot act with the user's session."""

from __future__ import annotations

from typing import Any

from azuraforge.platform.services.access import NO_PASSWORD, create_user
from azuraforge.platform.store import Store
from tests.e2e.conftest import DESKTOP, FINISHED, Dashboard, shoot

PASSWORD = "correct horse battery"
ATTACKER = "http://attacker.test/"


def test_sign_in_create_a_project_switch_and_see_only_its_runs(dashboard: Dashboard, browser):
    store = Store(f"sqlite:///{dashboard.home / 'azuraforge.db'}")
    create_user(store, "ana", PASSWORD)
    store.set_member("default", "ana", "editor")
    store.create_project("lab")  # her admin there: she may make projects from it
    store.set_member("lab", "ana", "admin")
    store.create_user("bo", NO_PASSWORD)  # a member of lab: she may add him elsewhere
    store.set_member("lab", "bo", "viewer")
    store.close()
    theirs = dashboard.submit("sleeper", {"steps": 2, "sleep": 0.0})  # in default
    dashboard.wait_for(theirs, FINISHED)
    context = browser.new_context(viewport=DESKTOP)  # no token: as a person's browser
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{dashboard.url}/#/runs")
    page.fill("#sign-in input[name=password]", "not her password")
    page.fill("#sign-in input[name=name]", "ana")
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#sign-in-error:has-text('no valid credential')")
    page.fill("#sign-in input[name=password]", PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector(f"#runs-table tr[data-id='{theirs}']")
    assert page.input_value("#project-picker") == "default"
    assert page.locator("#project-picker option[value='']").count() == 0  # an editor here
    shoot(page, "signed-in")

    switch(page, "lab")
    page.select_option("#project-picker", "")  # New project…
    page.fill("#new-project-name", "ana-lab")
    page.click("dialog button[type=submit]")
    page.wait_for_function("() => document.querySelector('#project-picker')?.value === 'ana-lab'")
    page.wait_for_selector("#runs-table:has-text('No runs yet')")  # theirs is not here
    shoot(page, "project-switched")

    page.select_option("#project-picker", "default")
    page.wait_for_selector(f"#runs-table tr[data-id='{theirs}']")
    _members_and_tokens(page, dashboard)
    _another_site_cannot_act(context, dashboard)
    context.close()


def _members_and_tokens(page: Any, dashboard: Dashboard) -> None:
    """The Access page: an editor sees no members (admins do) and makes a token of their own,
    shown once, that the API takes; in their own project, they add a member of another one
    of theirs."""
    page.click("#access-link")
    page.wait_for_selector("#members:has-text('Only the project')")
    page.fill("#token-name", "laptop")
    page.click("#token-form button[type=submit]")
    token = page.inner_text("#token-secret")
    assert token.startswith("af_")
    signed = {"Authorization": f"Bearer {token}"}
    assert dashboard.api.get("/auth/me", headers=signed).json()["user"] == "ana"
    assert page.locator("#tokens-table tbody tr").count() == 1
    shoot(page, "access")
    switch(page, "ana-lab")  # hers: she is its admin
    page.goto(f"{dashboard.url}/#/access")
    page.fill("#member-user", "bo")
    page.select_option("#member-role", "viewer")
    page.click("#member-form button[type=submit]")
    page.wait_for_selector("#members-table tr[data-user=bo]")
    switch(page, "default")


def switch(page: Any, project: str) -> None:
    """Choose ``project`` in the header and wait for the page to load again in it (the
    switch sets the fragment, then reloads: two navigations)."""
    page.evaluate("() => { window.beforeTheSwitch = true; }")
    page.select_option("#project-picker", project)
    page.wait_for_function(
        "(project) => !window.beforeTheSwitch"
        " && document.querySelector('#project-picker')?.value === project",
        arg=project,
    )
    page.wait_for_load_state("load")


def _another_site_cannot_act(context: Any, dashboard: Dashboard) -> None:
    """A page of another site, in the signed-in browser, posts a run to the server (a fetch
    with credentials and a form): neither is taken."""
    before = dashboard.api.get("/runs").json()["total"]
    attacker = context.new_page()
    attacker.route(ATTACKER, lambda route: route.fulfill(
        content_type="text/html",
        body=f"""<form id=f method=post action="{dashboard.url}/api/v1/runs"
                   enctype=text/plain><input name='{{"pipeline":"sleeper","x":"' value='"}}'>
                 </form>""",
    ))  # fmt: skip
    attacker.goto(ATTACKER)
    attacker.evaluate(
        """url => fetch(url, {method: "POST", credentials: "include", mode: "no-cors",
            headers: {"content-type": "text/plain"},
            body: JSON.stringify({pipeline: "sleeper", config: {}})}).catch(() => null)""",
        f"{dashboard.url}/api/v1/runs",
    )
    with attacker.expect_navigation():
        attacker.evaluate("() => document.getElementById('f').submit()")
    assert "FORBIDDEN" in attacker.content()  # a change from another origin: refused
    assert dashboard.api.get("/runs").json()["total"] == before
