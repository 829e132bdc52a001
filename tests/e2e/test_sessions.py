"""A browser session on a host other programs share: the browser sends a host's cookies to
every port of it, so two servers on two ports each name their own cookie and keep one browser
signed in to both, and a program on another port, which receives the cookie, cannot turn it
into a token that outlives the session; the Access page makes a token that ends with the
session, or one of 90 days with the password asked again. Neither server declares an
assistant backend, as ``make run`` starts one: the first answers a chat with the packaged
SmolLM2-135M, loaded at its first message; the second cannot import llama.cpp (a
``llama_cpp`` first on its path that fails to import, as where the assist extra is missing)
and its Chat page says what to install, leaving no answer pending."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from azuraforge.client.environment import TOKEN_VARIABLE
from azuraforge.platform.services.access import FIRST_ADMIN, create_user, login_link
from azuraforge.platform.store import DEFAULT_PROJECT, Store
from tests.e2e.conftest import DESKTOP, Dashboard, shoot, start_dashboard
from tests.platform.servers import LAST_SERVER, free_port, kill_group

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def two_servers(
    sleeper_path: Path, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Dashboard]]:
    """Two servers on one host, each on its own port, home and store (no workers, no
    assistant backend declared; the second without llama.cpp); the servers the other
    modules' pages sign in to are as before afterwards."""
    before, token = dict(LAST_SERVER), os.environ.get(TOKEN_VARIABLE)
    no_llama = tmp_path_factory.mktemp("no-llama")
    (no_llama / "llama_cpp.py").write_text("raise ImportError('no llama_cpp here')\n")
    started = []
    try:
        for name, path in (("first", sleeper_path), ("second", no_llama)):
            home = tmp_path_factory.mktemp(name)
            shutil.copy(sqlite_template, home / "azuraforge.db")
            started.append(start_dashboard(home, home / "azuraforge.db", path, "--workers", "0",
                                           assist_backends=[]))  # fmt: skip
        yield [served for _, served in started]
    finally:
        for process, served in started:
            served.api.close()
            kill_group(process)
        LAST_SERVER.clear()
        LAST_SERVER.update(before)
        if token is not None:
            os.environ[TOKEN_VARIABLE] = token


def test_two_servers_on_two_ports_keep_one_browser_signed_in_to_both(
    two_servers: list[Dashboard], browser: Any
):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    for served in two_servers:  # signed in to one, then to the other
        page.goto(_login_link(served), wait_until="commit")
    for served in two_servers:
        page.goto(f"{served.url}/#/runs")
        page.wait_for_selector("#project-picker, #sign-in")
        assert page.locator("#project-picker").count() == 1, f"signed out of {served.url}"
    assert len({cookie["name"] for cookie in context.cookies()}) == 2
    context.close()


def test_a_program_on_another_port_gets_the_cookie_but_no_token_outliving_it(
    two_servers: list[Dashboard], browser: Any
):
    served = two_servers[0]
    store = Store(f"sqlite:///{served.home / 'azuraforge.db'}")
    create_user(store, "ana", PASSWORD)
    store.set_member(DEFAULT_PROJECT, "ana", "admin")
    store.close()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{served.url}/#/access")
    page.fill("#sign-in input[name=name]", "ana")
    page.fill("#sign-in input[name=password]", PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#token-form")

    cookie = _sent_to_another_port(context, page)
    assert "azuraforge_session_" in cookie  # the browser sends it: no cookie's name stops that
    asked = {"role": "admin", "expires_in_days": 400}
    tokens = f"{served.url}/api/v1/access/tokens"
    stolen = httpx.post(tokens, json=asked, headers={"Cookie": cookie})
    assert stolen.status_code == 400, stolen.text  # a session alone: no token past its end

    page.goto(f"{served.url}/#/access")
    page.fill("#token-name", "today")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#token-made:has-text('ends with this session')")
    page.fill("#token-password", "not her password")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector(".toast.error:has-text('not your password')")
    page.fill("#token-name", "laptop")
    page.fill("#token-password", PASSWORD)
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#tokens-table tbody tr:nth-child(2)")
    made = page.inner_text("#token-made")
    assert "ends with this session" not in made
    lasting = {"Authorization": f"Bearer {page.inner_text('#token-secret')}"}
    assert served.api.get("/auth/me", headers=lasting).json()["user"] == "ana"
    assert page.locator("#tokens-table td:has-text('with its session')").count() == 1
    shoot(page, "token-from-session")
    context.close()


def test_with_no_backend_declared_the_chat_answers_with_the_packaged_model(
    two_servers: list[Dashboard], browser: Any
):
    served = two_servers[0]
    page = _chat_sent(browser, served, "Say hello in one short sentence.")
    answer = page.wait_for_selector(".chat-turn.assistant[data-turn]", timeout=120_000)
    meta = answer.query_selector(".chat-meta").inner_text()
    assert " · local · first token " in meta, meta
    assert answer.query_selector(".chat-text").inner_text().strip()
    assert page.locator(".chat-turn.streaming, .toast.error").count() == 0
    turn = served.api.get("/chat/conversations").json()["data"][0]["id"]
    kept = served.api.get(f"/chat/conversations/{turn}").json()["turns"][0]
    assert kept["backend"] == "local" and kept["tokens_out"] >= 1 and kept["answer"].strip()
    shoot(page, "chat-default-backend")
    page.context.close()


def test_without_the_assist_extra_the_chat_says_what_to_install_and_nothing_pends(
    two_servers: list[Dashboard], browser: Any
):
    served = two_servers[1]
    page = _chat_sent(browser, served, "hello")
    failed = page.wait_for_selector(".chat-turn.assistant.failed")
    assert "pip install 'azuraforge[assist]'" in failed.inner_text()
    assert failed.query_selector(".chat-meta").inner_text() == "no answer"
    assert page.locator(".chat-turn.streaming, .toast.error").count() == 0
    assert page.input_value("#chat-message") == "hello"  # kept, to send again once installed
    assert not page.is_disabled("#chat-send")
    assert served.api.get("/chat/conversations").json()["total"] == 0
    shoot(page, "chat-missing-extra")
    page.context.close()


def _chat_sent(browser: Any, served: Dashboard, message: str) -> Any:
    """A signed-in page of ``served``'s Chat, its backend ``local`` offered, ``message`` sent."""
    page = _signed_in_page(browser, served)
    page.goto(f"{served.url}/#/chat")
    page.wait_for_selector("#chat-model option[value='local']", state="attached")
    page.fill("#chat-message", message)
    page.press("#chat-message", "Enter")
    return page


def _signed_in_page(browser: Any, served: Dashboard) -> Any:
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.set_default_timeout(20_000)
    page.goto(_login_link(served), wait_until="commit")
    return page


def _login_link(served: Dashboard) -> str:
    """A one-time login link of ``served``'s first admin (as ``make run`` prints)."""
    store = Store(f"sqlite:///{served.home / 'azuraforge.db'}")
    try:
        token = login_link(store, FIRST_ADMIN, DEFAULT_PROJECT)
    finally:
        store.close()
    return f"{served.url}/api/v1/auth/link?token={token}"


def _sent_to_another_port(context: Any, page: Any) -> str:
    """The ``Cookie`` header the browser sends to a page of another program on this host
    (another port of 127.0.0.1; the page is served here, as that program would)."""
    other = f"http://127.0.0.1:{free_port()}/"
    sent: dict[str, str] = {}

    def serve(route: Any) -> None:
        sent.update(route.request.all_headers())
        route.fulfill(content_type="text/html", body="<p>another program</p>")

    context.route(other, serve)
    page.goto(other)
    return sent.get("cookie", "")
