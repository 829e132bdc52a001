"""The API's documentation page (``/docs``) in the browser with every request to another
host refused: Swagger UI comes from the server itself, draws every operation, and a request
tried from the page is answered."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import DESKTOP, Dashboard, shoot, start_dashboard
from tests.platform.servers import kill_group


@pytest.fixture(scope="module")
def served(
    sleeper_path: Path, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    """A serve without workers: the page only reads."""
    home = tmp_path_factory.mktemp("api-docs")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    process, dashboard = start_dashboard(home, home / "azuraforge.db", sleeper_path,
                                         "--workers", "0")  # fmt: skip
    try:
        yield dashboard
    finally:
        dashboard.api.close()
        kill_group(process)


def test_the_docs_draw_every_operation_offline_and_try_one(served: Dashboard, browser: Any):
    context = browser.new_context(viewport=DESKTOP)
    elsewhere: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(f"{served.url}/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.extend(
        [message.text] if message.type == "error" else []))  # fmt: skip
    page.set_default_timeout(20_000)
    page.goto(f"{served.url}/docs")
    page.wait_for_selector(".opblock")
    operations = httpx.get(f"{served.url}/openapi.json").json()["paths"]
    expected = sum(len(methods) for methods in operations.values())
    assert page.locator(".opblock").count() == expected
    health = page.locator(".opblock", has=page.locator("[data-path='/api/v1/health']"))
    health.locator(".opblock-summary").click()
    health.locator("button.try-out__btn").click()
    health.locator("button.execute").click()
    status = health.locator(".live-responses-table tr.response .response-col_status")
    assert status.inner_text().strip() == "200"
    shoot(page, "api-docs")
    context.close()
    assert elsewhere == []
    assert problems == []
